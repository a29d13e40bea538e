#pragma once
// An image's upload, shared by `send --image` and `profile avatar`:
// POST /v1/media, then the bytes PUT (streamed from the file, with progress
// on stderr) to the URL natterd answered.
#include <string>

#include "api.hpp"
#include "image_file.hpp"

namespace natter::cli {

// The new media's id. Throws CliError: the server's refusal (exit 1), a
// refused upload ("upload refused: forbidden: …", exit 1), the network (3).
std::string upload_image(Api& api, const ImageFile& image);

// {media_id, mime, size, width?, height?}: the `attachment` of a send.
json attachment_for(const ImageFile& image, const std::string& media_id);

}  // namespace natter::cli
