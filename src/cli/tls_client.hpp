#pragma once
// The client side of TLS, shared by the Asio translation units
// (http_client.cpp, ws_client.cpp, transfer.cpp): one way to trust and
// check a server's certificate.
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/error.hpp>

#include <string>

namespace natter::cli {

// TLS 1.2 or later; peers verified against the system's CAs, and the PEM
// file `ca_file` too when not empty. Throws CliError (usage) when
// `ca_file` cannot be loaded.
boost::asio::ssl::context client_tls_context(const std::string& ca_file);

// Sets SNI (for a name, not an address: RFC 6066) and the check that the
// certificate names `host`. Before the handshake.
template <class SslStream>
bool expect_host(SslStream& stream, const std::string& host) {
    boost::system::error_code not_address;
    boost::asio::ip::make_address(host, not_address);
    if (not_address && !SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) return false;
    stream.set_verify_callback(boost::asio::ssl::host_name_verification(host));
    return true;
}

// A TLS failure as it reads after "cannot reach URL: ", with a hint for an
// untrusted certificate; other errors as describe_network_error says them.
std::string describe_tls_error(const boost::beast::error_code& ec);

}  // namespace natter::cli
