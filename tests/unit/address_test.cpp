// Addresses as the per-address connection limit counts them, and the depth
// check every client JSON goes through.
#include <gtest/gtest.h>

#include "core/address.hpp"
#include "core/json_input.hpp"
#include "core/limits.hpp"

namespace natter {
namespace {

IpBytes ip(const char* text) {
    auto a = parse_ip(text);
    EXPECT_TRUE(a) << text;
    return a.value_or(IpBytes{});
}

TEST(Address, IPv4CountsPerAddressAndIPv6PerSlash64) {
    EXPECT_NE(limit_key(ip("192.0.2.1")), limit_key(ip("192.0.2.2")));
    EXPECT_EQ(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:2:ffff::9")))
        << "one subscriber's /64 is one address";
    EXPECT_NE(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
    EXPECT_EQ(limit_key(ip("::ffff:192.0.2.1")), limit_key(ip("192.0.2.1"))) << "IPv4-mapped is the IPv4 address";
    EXPECT_EQ(ip_text(ip("192.0.2.1")), "192.0.2.1");
    EXPECT_EQ(ip_text(ip("2001:db8::1")), "2001:db8::1");
    EXPECT_FALSE(parse_ip("localhost"));
    EXPECT_FALSE(parse_ip("1.2.3"));
}

TEST(Address, ExemptPrefixesMatchTheirRangeOnly) {
    auto list = parse_prefixes(" 127.0.0.0/8 , ::1,10.1.2.3, 2001:db8::/32,");
    ASSERT_TRUE(list) << list.error().message;
    ASSERT_EQ(list->size(), 4u);
    auto exempt = [&](const char* a) {
        for (const auto& p : *list)
            if (in_prefix(ip(a), p)) return true;
        return false;
    };
    EXPECT_TRUE(exempt("127.0.0.1"));
    EXPECT_TRUE(exempt("127.255.1.2"));
    EXPECT_TRUE(exempt("::ffff:127.0.0.1"));
    EXPECT_TRUE(exempt("::1"));
    EXPECT_TRUE(exempt("10.1.2.3"));
    EXPECT_FALSE(exempt("10.1.2.4"));
    EXPECT_FALSE(exempt("128.0.0.1"));
    EXPECT_FALSE(exempt("::2"));
    EXPECT_TRUE(exempt("2001:db8:ffff::1"));
    EXPECT_FALSE(exempt("2001:db9::1"));
    auto odd = parse_prefixes("192.168.0.0/23");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(in_prefix(ip("192.168.1.200"), odd->front()));
    EXPECT_FALSE(in_prefix(ip("192.168.2.1"), odd->front()));
    EXPECT_TRUE(parse_prefixes("")->empty());
    for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8x", "example.com", "1.2.3.4/-1"}) {
        auto r = parse_prefixes(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
}

TEST(Address, LimitsRefuseAnExemptListThatDoesNotParse) {
    Limits l;
    EXPECT_EQ(check_limits(l), "");
    l.per_address_exempt = "127.0.0.1,proxy.internal";
    EXPECT_NE(check_limits(l).find("proxy.internal"), std::string::npos);
}

TEST(JsonInput, DepthCountsBracketsOutsideStrings) {
    EXPECT_EQ(json_depth(R"({"a":1})"), 1u);
    EXPECT_EQ(json_depth(R"({"a":[[1],[2,[3]]]})"), 4u);
    EXPECT_EQ(json_depth(R"({"a":"[[[[{{{{"})"), 1u);
    EXPECT_EQ(json_depth(R"({"a":"\"[[[[\\"})"), 1u) << "an escaped quote does not end the string";
    EXPECT_EQ(json_depth(R"({"a":"\\",  "b":[[1]]})"), 3u) << "an escaped backslash does";
    EXPECT_EQ(json_depth(std::string(100000, '[')), kMaxJsonDepth + 1) << "stops counting past the limit";
}

TEST(JsonInput, TooDeepIsInvalidAndTheLimitItselfParses) {
    auto nest = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };
    auto ok = parse_client_json(nest(kMaxJsonDepth));
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->is_array());
    auto deep = parse_client_json(nest(kMaxJsonDepth + 1));
    ASSERT_FALSE(deep);
    EXPECT_EQ(deep.error().code, Code::invalid);
    EXPECT_NE(deep.error().message.find("nested deeper than 32"), std::string::npos);
    auto bad = parse_client_json("{\"a\":");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Code::invalid);
}

}  // namespace
}  // namespace natter

namespace natter {
namespace {

AddressPolicy policy(const std::string& trusted, const std::string& exempt) {
    return AddressPolicy{*parse_prefixes(trusted), *parse_prefixes(exempt)};
}

std::optional<IpBytes> peer(const char* text) { return parse_ip(text); }

TEST(ClientKey, IsThePeerItselfWithoutATrustedProxy) {
    auto p = policy("", "");
    EXPECT_EQ(client_key(peer("203.0.113.7"), "", p), "4:203.0.113.7");
    // X-Forwarded-For from anyone but a trusted proxy is the client's own word: ignored.
    EXPECT_EQ(client_key(peer("203.0.113.7"), "198.51.100.1", p), "4:203.0.113.7");
    EXPECT_EQ(client_key(peer("::ffff:203.0.113.7"), "", p), "4:203.0.113.7") << "IPv4-mapped is the same host";
    EXPECT_EQ(client_key(peer("2001:db8:1:2:aaaa::1"), "", p), "6:2001:db8:1:2::/64");
    EXPECT_EQ(client_key(peer("2001:db8:1:2:aaaa::1"), "", p), client_key(peer("2001:db8:1:2:ffff::9"), "", p));
    EXPECT_EQ(client_key(std::nullopt, "", p), "") << "a socket already gone is not counted";
}

TEST(ClientKey, BehindATrustedProxyIsTheAddressItAppended) {
    auto p = policy("10.0.0.0/8", "");
    EXPECT_EQ(client_key(peer("10.1.2.3"), "198.51.100.1", p), "4:198.51.100.1");
    // Only the last entry: the earlier ones came from the client.
    EXPECT_EQ(client_key(peer("10.1.2.3"), "127.0.0.1, 198.51.100.1", p), "4:198.51.100.1");
    EXPECT_EQ(client_key(peer("10.1.2.3"), " 2001:db8::1 ", p), "6:2001:db8::/64");
    EXPECT_EQ(client_key(peer("10.1.2.3"), "[2001:db8::1]", p), "6:2001:db8::/64");
    // Nothing usable from the proxy: the proxy is the client.
    EXPECT_EQ(client_key(peer("10.1.2.3"), "", p), "4:10.1.2.3");
    EXPECT_EQ(client_key(peer("10.1.2.3"), "198.51.100.1, not-an-address", p), "4:10.1.2.3");
    EXPECT_EQ(client_key(peer("11.1.2.3"), "198.51.100.1", p), "4:11.1.2.3") << "outside the trusted range";
}

TEST(ClientKey, ExemptClientsHaveNoKey) {
    auto p = policy("::1", "127.0.0.0/8,::1");
    EXPECT_EQ(client_key(peer("127.0.0.1"), "", p), "");
    EXPECT_EQ(client_key(peer("127.200.3.4"), "", p), "");
    EXPECT_EQ(client_key(peer("::ffff:127.0.0.1"), "", p), "");
    // A trusted local proxy forwarding a remote client: the client is counted.
    EXPECT_EQ(client_key(peer("::1"), "198.51.100.1", p), "4:198.51.100.1");
    EXPECT_EQ(client_key(peer("::1"), "", p), "");
}

}  // namespace
}  // namespace natter
