#pragma once
// Moving image bytes to and from the URLs natterd hands out: an absolute
// http:// or https:// URL (an S3-style store), or a path on natterd itself
// (/v1/blobs/…), resolved against the server (over TLS when it is https). The body streams from and to
// disk (never whole in memory); no bearer token is ever sent with it (the
// URL is pre-signed). Beast/Asio stay in transfer.cpp.
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "http_client.hpp"
#include "server_url.hpp"

namespace natter::cli {

struct BlobUrl {
    bool tls = false;
    std::string host;         // without brackets
    std::string port;
    std::string host_header;  // host[:port] as written
    std::string target;       // "/path?query"
    std::string origin;       // "https://host[:port]", for messages
    std::string ca_file;      // the server's --ca-file: CAs trusted besides the system's
};

// Throws CliError (exit 1) for a URL that is neither an http(s) URL nor a path.
BlobUrl resolve_blob_url(const ServerUrl& server, const std::string& url);

using Headers = std::vector<std::pair<std::string, std::string>>;
using OnProgress = std::function<void(std::uint64_t bytes)>;

// Sends exactly `size` bytes of the file `fd` (from its start) as the body
// of `method` with `headers`; the answer (its body cut at 64 KiB). Throws
// CliError(kExitNetwork) when the store cannot be reached or stops answering
// (30 s without progress), Interrupted on SIGINT/SIGTERM.
HttpResponse upload_file(const BlobUrl& url, const std::string& method, const Headers& headers, int fd,
                         std::uint64_t size, const OnProgress& progress);

// GET: a 200's body goes to `sink` as it arrives (at most `max_bytes`, else
// CliError exit 1); any other status comes back with its body (cut at 64 KiB)
// and nothing given to `sink`. Throws like upload_file.
HttpResponse download_to(const BlobUrl& url, std::uint64_t max_bytes,
                         const std::function<void(const char* data, std::size_t size)>& sink,
                         const OnProgress& progress);

// SIGINT or SIGTERM arrived during a transfer, which was abandoned. main()
// ends the process by that signal once the stack has unwound (temp files gone).
struct Interrupted : std::exception {
    explicit Interrupted(int s) : sig(s) {}
    const char* what() const noexcept override { return "interrupted"; }
    int sig;
};

}  // namespace natter::cli
