#pragma once
// The protocol's error codes and a small result type used by every layer.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace natter {

enum class Code {
    invalid,
    unauthorized,
    forbidden,
    not_found,
    conflict,
    too_large,
    rate_limited,
    unavailable,  // retryable: the server could not do it now
};
constexpr std::size_t kCodeCount = std::size_t(Code::unavailable) + 1;

const char* code_name(Code c);
int http_status(Code c);

struct Error {
    Code code;
    std::string message;
    std::int64_t retry_after_ms = 0;  // only for rate_limited
};

inline Error err(Code c, std::string message) { return Error{c, std::move(message), 0}; }

// Either a value or an Error.
template <class T>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

struct Ok {};

}  // namespace natter
