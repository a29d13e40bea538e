// natter's SigV4 against AWS's own JavaScript signer: every case below is
// signed by src/adapters/s3/sigv4.cpp and by @smithy/signature-v4 (through
// sigv4_reference.js, pinned in package-lock.json beside it), and the two must
// agree on the canonical request, the string to sign, the signature and the
// URL. The Node modules come from scripts/deps.sh (`make test` runs it); when
// they are missing this test fails and says so.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/s3/sigv4.hpp"
#include "common/temp_dir.hpp"

namespace {

using namespace natter::s3;
using nlohmann::json;

const std::filesystem::path kTools = NATTER_S3_TOOLS_DIR;
const std::string kNode = NATTER_NODE;

struct Case {
    std::string name;
    bool presign = true;  // else header-signed
    Bucket bucket;
    Credentials credentials;
    Request request;
    std::int64_t now_s = 0;
    std::int64_t expires_s = 900;
    std::string payload = std::string(kEmptyPayloadSha256);
};

const Credentials kAws{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const Credentials kMinio{"natter", "natter-secret-key", ""};
const Credentials kTemporary{"ASIAQEXAMPLE7TOKEN", "tmp+secret/with=chars", "IQoJb3JpZ2luX2VjE/token+with/slashes=="};
const Bucket kAwsExample{"https://s3.amazonaws.com", "us-east-1", "examplebucket", UrlStyle::virtual_host};
const Bucket kLocal{"http://127.0.0.1:9000", "us-east-1", "media", UrlStyle::path};
const Bucket kS3rver{"http://localhost:4568", "us-east-1", "natter-media", UrlStyle::path};
const Bucket kEu{"https://s3.eu-central-1.amazonaws.com", "eu-central-1", "natter-eu", UrlStyle::virtual_host};
constexpr std::int64_t k20130524 = 1369353600;
constexpr std::int64_t kNow = 1767323045;  // 2026-01-02T03:04:05Z

std::string long_key() {
    std::string key = "long/";
    while (key.size() + 3 <= 1024) key += "€";  // three bytes each
    return key;
}

std::vector<Case> cases() {
    const std::string empty(kEmptyPayloadSha256);
    return {
        // Pre-signed URLs, as handed to clients.
        {"aws_doc_presigned_get", true, kAwsExample, kAws, {"GET", "test.txt", {}, {}}, k20130524, 86400},
        {"put_with_type_and_size", true, kLocal, kMinio,
         {"PUT", "media/2026/01/3f2a9c.jpg", {}, {{"Content-Type", "image/jpeg"}, {"Content-Length", "52431"}}}, kNow},
        {"put_unicode_key", true, kLocal, kMinio,
         {"PUT", "photos/2026 01/Ünïcödé 😀.png", {}, {{"content-type", "image/png"}}}, kNow, 300},
        {"special_characters_key", true, kLocal, kMinio,
         {"GET", "a+b=c&d?e#f%20g;h,i:j@k$l!m*n'o(p)q~r[s]t{u}v|w^x`y\"z<>\\", {}, {}}, kNow},
        {"empty_segments_and_trailing_slash", true, kLocal, kMinio, {"GET", "a//b/", {}, {}}, kNow},
        {"virtual_host_get_with_response_overrides", true, kEu, kMinio,
         {"GET", "u/42/photo.webp",
          {{"response-content-disposition", "attachment; filename=\"holiday photo.webp\""},
           {"response-content-type", "image/webp"}},
          {}},
         kNow, 3600},
        {"head_with_session_token", true, kS3rver, kTemporary, {"HEAD", "u/1/a.gif", {}, {}}, kNow, 60},
        {"delete_virtual_host", true, kEu, kMinio, {"DELETE", "tmp/upload-1", {}, {}}, kNow},
        {"r2_region_auto", true, {"https://acct123.r2.cloudflarestorage.com", "auto", "natter", UrlStyle::path},
         kMinio, {"PUT", "x/y.png", {}, {{"content-type", "image/png"}}}, kNow},
        {"amz_meta_header_stays_a_header", true, kLocal, kMinio,
         {"PUT", "k", {}, {{"X-Amz-Meta-Caption", "  a   sunny\tday  "}, {"Content-Type", "image/jpeg"}}}, kNow},
        {"upper_case_endpoint_default_https_port", true,
         {"HTTPS://S3.Example.COM:443", "us-west-2", "media", UrlStyle::virtual_host}, kMinio,
         {"GET", "k.png", {}, {}}, kNow},
        {"http_default_port", true, {"http://minio:80", "us-east-1", "media", UrlStyle::path}, kMinio,
         {"GET", "k.png", {}, {}}, kNow},
        {"ipv6_endpoint", true, {"http://[::1]:9000", "us-east-1", "media", UrlStyle::path}, kMinio,
         {"GET", "k.png", {}, {}}, kNow},
        {"query_sorting_and_encoding", true, kLocal, kMinio,
         {"GET", "q",
          {{"b", "2"}, {"a-b", "x"}, {"a", "z/y"}, {"Z z", "a b"}, {"~t", ""}, {"é", "ü/+="}, {"versionId", "3/L4kqtJl"}},
          {}},
         kNow},
        {"one_second_on_a_leap_day", true, kLocal, kMinio, {"GET", "k", {}, {}}, 1709251199, 1},
        {"one_week_in_2099", true, kLocal, kMinio, {"GET", "k", {}, {}}, 4102444799, 604800},
        {"unusual_keys_and_secret", true, kLocal, {"minio-admin_1", "a+b/c=d%e f", ""}, {"GET", "k", {}, {}}, kNow},
        {"dotted_bucket_virtual_host_over_http", true,
         {"http://s3.local:9000", "us-east-1", "my.media", UrlStyle::virtual_host}, kMinio, {"GET", "k", {}, {}}, kNow},
        {"longest_key", true, kLocal, kMinio, {"GET", long_key(), {}, {}}, kNow},
        {"mixed_case_header_name", true, kLocal, kMinio,
         {"PUT", "k", {}, {{"CoNtEnT-TyPe", "text/plain; charset=utf-8"}, {"Content-Length", "0"}}}, kNow},

        // Authorization-header requests, as natterd makes them itself.
        {"aws_doc_get_range", false, kAwsExample, kAws, {"GET", "test.txt", {}, {{"Range", "bytes=0-9"}}}, k20130524},
        {"aws_doc_list_objects", false, kAwsExample, kAws, {"GET", "", {{"prefix", "J"}, {"max-keys", "2"}}, {}},
         k20130524},
        {"aws_doc_lifecycle", false, kAwsExample, kAws, {"GET", "", {{"lifecycle", ""}}, {}}, k20130524},
        {"head_path_style", false, kLocal, kMinio, {"HEAD", "media/2026/01/3f2a9c.jpg", {}, {}}, kNow},
        {"ranged_get_with_version", false, kEu, kMinio,
         {"GET", "u/42/photo 1.webp", {{"versionId", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}},
          {{"range", "bytes=0-1023"}}},
         kNow},
        {"delete_with_session_token", false, kS3rver, kTemporary, {"DELETE", "u/1/a.gif", {}, {}}, kNow},
        {"put_signed_payload", false, kLocal, kMinio,
         {"PUT", "thumbs/ü 1.jpg", {},
          {{"Content-Type", "image/jpeg"}, {"x-amz-meta-owner", "42"}, {"x-amz-storage-class", "STANDARD"}}},
         kNow, 0, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
        {"put_unsigned_payload", false, kLocal, kMinio, {"PUT", "big.bin", {}, {{"content-length", "1048576"}}}, kNow,
         0, std::string(kUnsignedPayload)},
        {"list_bucket_root_path_style", false, kLocal, kMinio,
         {"GET", "", {{"list-type", "2"}, {"prefix", "u/1/"}}, {}}, kNow},
    };
}

json pairs(const auto& items) {
    json out = json::array();
    for (const auto& item : items) out.push_back({item.name, item.value});
    return out;
}

json to_json(const Case& c) {
    return {{"name", c.name},
            {"mode", c.presign ? "presign" : "sign"},
            {"method", c.request.method},
            {"endpoint", c.bucket.endpoint},
            {"style", c.bucket.style == UrlStyle::path ? "path" : "virtual_host"},
            {"bucket", c.bucket.name},
            {"key", c.request.key},
            {"query", pairs(c.request.query)},
            {"headers", pairs(c.request.headers)},
            {"region", c.bucket.region},
            {"accessKeyId", c.credentials.access_key_id},
            {"secretAccessKey", c.credentials.secret_access_key},
            {"sessionToken", c.credentials.session_token},
            {"now", c.now_s},
            {"expires", c.expires_s},
            {"payloadHash", c.payload}};
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// What the reference signer says about every case, keyed by case name.
std::map<std::string, json> reference_results(const std::vector<Case>& all) {
    natter::testutil::TempDir dir;
    json input = json::array();
    for (const auto& c : all) input.push_back(to_json(c));
    std::ofstream(dir.file("cases.json")) << input.dump();
    const std::string command = "'" + kNode + "' '" + (kTools / "sigv4_reference.js").string() + "' < '" +
                                dir.file("cases.json") + "' > '" + dir.file("out.json") + "' 2> '" +
                                dir.file("err.txt") + "'";
    const int status = std::system(command.c_str());
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ADD_FAILURE() << "the reference signer failed (" << command << "):\n" << read_file(dir.file("err.txt"));
        return {};
    }
    std::map<std::string, json> out;
    for (auto& r : json::parse(read_file(dir.file("out.json")))) out[r.at("name").get<std::string>()] = r;
    return out;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs decoded_query(const std::string& url) {
    Pairs out;
    const auto q = url.find('?');
    if (q == std::string::npos) return out;
    std::string_view rest = std::string_view(url).substr(q + 1);
    while (!rest.empty()) {
        const auto amp = std::min(rest.find('&'), rest.size());
        const std::string_view item = rest.substr(0, amp);
        const auto eq = std::min(item.find('='), item.size());
        out.emplace_back(percent_decode(item.substr(0, eq)),
                         eq < item.size() ? percent_decode(item.substr(eq + 1)) : "");
        rest = amp < rest.size() ? rest.substr(amp + 1) : std::string_view();
    }
    std::sort(out.begin(), out.end());
    return out;
}

Pairs sorted_pairs(const json& j) {
    Pairs out;
    for (const auto& p : j) out.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
    std::sort(out.begin(), out.end());
    return out;
}

std::string before_query(const std::string& url) { return url.substr(0, url.find('?')); }

std::string header(const Signed& s, const std::string& name) {
    for (const auto& h : s.headers)
        if (h.name == name) return h.value;
    return "";
}

TEST(SigV4CrossCheck, ReferenceSignerIsInstalled) {
    const auto marker = kTools / "node_modules" / "@smithy" / "signature-v4" / "package.json";
    ASSERT_TRUE(std::filesystem::exists(marker))
        << marker << " is missing: the Node modules of tests/s3 are not installed. Run scripts/deps.sh "
        << "(`make test` does), or `npm ci` in " << kTools;
    const int status = std::system(("'" + kNode + "' --version > /dev/null 2>&1").c_str());
    ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "cannot run Node.js as " << kNode << ": install nodejs (scripts/deps.sh does)";
}

TEST(SigV4CrossCheck, AgreesWithTheAwsJavaScriptSigner) {
    const auto all = cases();
    const auto reference = reference_results(all);
    ASSERT_EQ(reference.size(), all.size()) << "the reference signer answered for other cases than asked";
    for (const auto& c : all) {
        SCOPED_TRACE(c.name);
        const json& ref = reference.at(c.name);
        ASSERT_FALSE(ref.contains("error")) << ref.at("error").get<std::string>();
        auto ours = c.presign ? presign(c.bucket, c.credentials, c.request, c.now_s, c.expires_s)
                              : sign_headers(c.bucket, c.credentials, c.request, c.now_s, c.payload);
        ASSERT_TRUE(ours.ok()) << ours.error().message;
        EXPECT_EQ(ours->canonical_request, ref.at("canonicalRequest").get<std::string>());
        EXPECT_EQ(ours->string_to_sign, ref.at("stringToSign").get<std::string>());
        EXPECT_EQ(ours->signature, ref.at("signature").get<std::string>());
        EXPECT_EQ(ours->signed_headers, ref.at("signedHeaders").get<std::string>());
        EXPECT_EQ(ours->host, ref.at("host").get<std::string>());
        EXPECT_EQ(before_query(ours->url), before_query(ref.at("url").get<std::string>()));
        EXPECT_EQ(decoded_query(ours->url), sorted_pairs(ref.at("query")));
        if (!c.presign) {
            EXPECT_EQ(header(*ours, "authorization"), ref.at("authorization").get<std::string>());
        }
    }
}

// The published values hold on the reference side too, so a change in the
// pinned signer cannot go unnoticed behind a matching change here.
TEST(SigV4CrossCheck, ReferenceReproducesAwsPublishedSignatures) {
    const auto all = cases();
    const auto reference = reference_results(all);
    ASSERT_FALSE(reference.empty());
    const std::map<std::string, std::string> published = {
        {"aws_doc_presigned_get", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"},
        {"aws_doc_get_range", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
        {"aws_doc_list_objects", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
        {"aws_doc_lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
    };
    for (const auto& [name, signature] : published)
        EXPECT_EQ(reference.at(name).value("signature", ""), signature) << name;
}

}  // namespace
