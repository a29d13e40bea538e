#include "core/address.hpp"

#include <gtest/gtest.h>

namespace natter {
namespace {

AddressPolicy policy(const std::string& trusted, const std::string& exempt) {
    return AddressPolicy{*parse_ranges(trusted), *parse_ranges(exempt)};
}

TEST(ClientKey, IsThePeerItselfWithoutATrustedProxy) {
    auto p = policy("", "");
    EXPECT_EQ(client_key("203.0.113.7", "", p), "4:203.0.113.7");
    // X-Forwarded-For from anyone but a trusted proxy is the client's own word: ignored.
    EXPECT_EQ(client_key("203.0.113.7", "198.51.100.1", p), "4:203.0.113.7");
    EXPECT_EQ(client_key("::ffff:203.0.113.7", "", p), "4:203.0.113.7") << "IPv4-mapped is the same host";
}

TEST(ClientKey, CountsIpv6PerSlash64) {
    auto p = policy("", "");
    EXPECT_EQ(client_key("2001:db8:1:2:aaaa::1", "", p), client_key("2001:db8:1:2:ffff::9", "", p));
    EXPECT_NE(client_key("2001:db8:1:2::1", "", p), client_key("2001:db8:1:3::1", "", p));
    EXPECT_EQ(client_key("2001:db8:1:2::1", "", p), "6:2001:0db8:0001:0002::/64");
}

TEST(ClientKey, BehindATrustedProxyIsTheAddressItAppended) {
    auto p = policy("10.0.0.0/8", "");
    EXPECT_EQ(client_key("10.1.2.3", "198.51.100.1", p), "4:198.51.100.1");
    // Only the last entry: the earlier ones came from the client.
    EXPECT_EQ(client_key("10.1.2.3", "127.0.0.1, 198.51.100.1", p), "4:198.51.100.1");
    EXPECT_EQ(client_key("10.1.2.3", " 2001:db8::1 ", p), "6:2001:0db8:0000:0000::/64");
    // Nothing usable from the proxy: the proxy is the client.
    EXPECT_EQ(client_key("10.1.2.3", "", p), "4:10.1.2.3");
    EXPECT_EQ(client_key("10.1.2.3", "198.51.100.1, not-an-address", p), "4:10.1.2.3");
    EXPECT_EQ(client_key("11.1.2.3", "198.51.100.1", p), "4:11.1.2.3") << "outside the trusted range";
}

TEST(ClientKey, ExemptClientsHaveNoKey) {
    auto p = policy("::1", "127.0.0.0/8,::1");
    EXPECT_EQ(client_key("127.0.0.1", "", p), "");
    EXPECT_EQ(client_key("127.200.3.4", "", p), "");
    EXPECT_EQ(client_key("::ffff:127.0.0.1", "", p), "");
    // A trusted local proxy forwarding a remote client: the client is counted.
    EXPECT_EQ(client_key("::1", "198.51.100.1", p), "4:198.51.100.1");
    EXPECT_EQ(client_key("::1", "", p), "");
}

TEST(AddressRanges, ParseAndMatch) {
    auto r = AddressRange::parse("192.168.0.0/16");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->contains(*parse_address("192.168.255.1")));
    EXPECT_FALSE(r->contains(*parse_address("192.169.0.1")));
    EXPECT_FALSE(r->contains(*parse_address("2001:db8::1")));
    auto host_bits = AddressRange::parse("10.1.2.3/8");  // bits past the prefix are ignored
    ASSERT_TRUE(host_bits);
    EXPECT_TRUE(host_bits->contains(*parse_address("10.200.0.1")));
    auto odd = AddressRange::parse("2001:db8::/33");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(odd->contains(*parse_address("2001:db8:7fff::1")));
    EXPECT_FALSE(odd->contains(*parse_address("2001:db8:8000::1")));
    EXPECT_TRUE(AddressRange::parse("0.0.0.0/0")->contains(*parse_address("8.8.8.8")));
    EXPECT_TRUE(AddressRange::parse("[::1]"));

    for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "host.example",
                            "10.0.0", "1.2.3.4.5", "10.0.0.0/08a", ":::1"})
        EXPECT_FALSE(AddressRange::parse(bad)) << bad;
    std::string error;
    EXPECT_FALSE(parse_ranges("10.0.0.0/8, nope ,::1", &error));
    EXPECT_EQ(error, "nope");
    auto list = parse_ranges(" 10.0.0.0/8 ,, ::1 ");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->size(), 2u);
    EXPECT_TRUE(parse_ranges("")->empty());
}

}  // namespace
}  // namespace natter
