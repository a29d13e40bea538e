#include "tls_client.hpp"

#include <openssl/err.h>

#include "errors.hpp"
#include "http_client.hpp"

namespace natter::cli {

namespace ssl = boost::asio::ssl;

ssl::context client_tls_context(const std::string& ca_file) {
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_default_verify_paths();
    if (!ca_file.empty()) {
        boost::system::error_code ec;
        ctx.load_verify_file(ca_file, ec);
        if (ec)
            throw CliError(kExitUsage, "cannot use --ca-file " + ca_file + ": " + describe_network_error(ec.message()) +
                                           " (it must be a readable PEM file of CA certificates)");
    }
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
}

std::string describe_tls_error(const boost::beast::error_code& ec) {
    if (ec.category() == boost::asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED)
        return "its certificate is not trusted, or does not name it (--ca-file PATH trusts a private CA)";
    if (ec == boost::asio::ssl::error::stream_truncated) return "the connection was cut during TLS";
    return describe_network_error(ec.message());
}

}  // namespace natter::cli
