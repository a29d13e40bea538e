// natterd's configuration file: the input is the TOML text of --config, read
// by load_config as natterd reads it (from a file: a memfd here, so nothing
// touches the disk), with no environment and no other flags; check_config
// runs as part of it.
//
// Besides the sanitizers: a configuration that loads prints (--print-config)
// as TOML that loads again to the same configuration (unless it has secrets,
// which print redacted).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "app/config.hpp"

namespace {

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
    std::abort();
}

// One memfd, rewritten for each load; /proc/self/fd/N is its path.
class MemFile {
public:
    MemFile() : fd_(memfd_create("natter-fuzz-config", 0)) {
        if (fd_ < 0) fail("memfd_create failed");
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    const std::string& write(const std::string& text) {
        if (ftruncate(fd_, 0) != 0) fail("ftruncate failed");
        std::size_t done = 0;
        while (done < text.size()) {
            auto n = pwrite(fd_, text.data() + done, text.size() - done, off_t(done));
            if (n <= 0) fail("pwrite failed");
            done += std::size_t(n);
        }
        return path_;
    }

private:
    int fd_;
    std::string path_;
};

natter::Invocation load(const std::string& text) {
    static MemFile* file = new MemFile();
    std::string path = file->write(text);
    std::vector<std::string> args = {"natterd", "--config", path};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    char* envp[] = {nullptr};
    return natter::load_config(int(args.size()), argv.data(), envp);
}

bool has_secrets(const natter::Config& c) {
    return !c.token_key.empty() || !c.s3.secret_access_key.empty() || !c.s3.session_token.empty() ||
           !c.redis.password.empty();
}

}  // namespace

// load_config tells what is wrong on std::cerr: thousands of lines a
// second. Only the iostreams go here; sanitizer reports still show. Never
// freed: the streams flush into it at exit.
std::stringbuf& sink = *new std::stringbuf;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    std::cerr.rdbuf(&sink);
    std::cout.rdbuf(&sink);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    sink.str("");
    auto first = load(text);
    if (first.exit_code >= 0) return 0;
    if (has_secrets(first.config)) return 0;
    std::string printed = natter::config_to_toml(first.config);
    auto second = load(printed);
    if (second.exit_code >= 0) fail("the printed configuration does not load (" + sink.str() + "):\n" + printed);
    std::string again = natter::config_to_toml(second.config);
    if (again != printed) fail("the printed configuration loads as another:\n" + printed + "\n---\n" + again);
    return 0;
}
