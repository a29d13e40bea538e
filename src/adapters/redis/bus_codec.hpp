#pragma once
// The bytes a BusEvent travels as on Redis pub/sub. Binary, versioned, and
// decoded as untrusted input (anyone who can PUBLISH on the instance can
// send anything): every length is checked against what is left, nothing is
// trusted to be in range, and a payload either decodes whole or not at all.
//
// Version 1, all integers LEB128 varints (at most 10 bytes, no overlong
// last byte), signed ones zigzag-encoded:
//   u8 version (1) | u8 kind (BusEvent::Kind) | message_id | device |
//   changed_at (signed) | n rows, then n x (device, id (signed), prev (signed)) |
//   u8 has_frame (0/1), then when 1: frame length, frame bytes
// and nothing after. A later version may append fields; a decoder rejects a
// version it does not know (the publisher's nodes are upgraded first only if
// they keep publishing the old one).
#include <memory>
#include <string>
#include <string_view>

#include "ports/bus.hpp"

namespace natter::redis {

inline constexpr unsigned char kBusCodecVersion = 1;

std::string encode_bus_event(const BusEvent& event);

// The event, or nullptr with `error` saying what is wrong with the bytes.
std::shared_ptr<BusEvent> decode_bus_event(std::string_view bytes, std::string& error);

}  // namespace natter::redis
