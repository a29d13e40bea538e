#pragma once
// Trace ids (W3C trace-context format: 32 lowercase hex digits) that follow
// one request through the layers' log lines.
#include <string>

namespace natter {

std::string new_trace_id();

}  // namespace natter
