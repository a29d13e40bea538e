// natterd's [s3] settings: where they come from, what check_config refuses,
// and that --print-config hides the secrets.
#include <gtest/gtest.h>

#include <fstream>

#include <toml++/toml.h>

#include "app/config.hpp"
#include "common/temp_dir.hpp"

namespace natter {
namespace {

// natterd's arguments and environment, as load_config takes them.
Invocation load(std::vector<std::string> args, std::vector<std::string> env) {
    args.insert(args.begin(), "natterd");
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    return load_config(int(argv.size()), argv.data(), envp.data());
}

Config s3_config() {
    Config c;
    c.blobs_adapter = "s3";
    c.s3.endpoint = "http://127.0.0.1:9000";
    c.s3.bucket = "natter-media";
    c.s3.access_key_id = "natter";
    c.s3.secret_access_key = "natter-secret";
    return c;
}

TEST(S3Config, TheBucketComesFromTheFileTheEnvironmentAndFlags) {
    testutil::TempDir dir;
    std::ofstream(dir.file("natterd.toml")) << "[blobs]\nadapter = \"s3\"\n"
                                            << "[s3]\nendpoint = \"https://s3.eu-central-1.amazonaws.com\"\n"
                                            << "region = \"eu-central-1\"\npath_style = false\nno_overwrite = false\n";
    auto inv = load({"--config", dir.file("natterd.toml"), "--s3-bucket", "natter-eu"},
                    {"NATTER_S3_ACCESS_KEY_ID=AKIDEXAMPLE", "NATTER_S3_SECRET_ACCESS_KEY=wJalr/K7MDENG",
                     "NATTER_S3_SESSION_TOKEN=token/with+chars=="});
    ASSERT_EQ(inv.exit_code, -1);
    const auto& s = inv.config.s3;
    EXPECT_EQ(inv.config.blobs_adapter, "s3");
    EXPECT_EQ(s.endpoint, "https://s3.eu-central-1.amazonaws.com");
    EXPECT_EQ(s.region, "eu-central-1");
    EXPECT_EQ(s.bucket, "natter-eu");
    EXPECT_FALSE(s.path_style);
    EXPECT_FALSE(s.no_overwrite);
    EXPECT_EQ(s.access_key_id, "AKIDEXAMPLE");
    EXPECT_EQ(s.secret_access_key, "wJalr/K7MDENG");
    EXPECT_EQ(s.session_token, "token/with+chars==");
    EXPECT_EQ(s3_bucket(s).style, s3::UrlStyle::virtual_host);
}

TEST(S3Config, DefaultsArePathStyleUsEast1AndNoOverwrite) {
    Config c;
    EXPECT_EQ(c.blobs_adapter, "local");
    EXPECT_EQ(c.s3.region, "us-east-1");
    EXPECT_TRUE(c.s3.path_style);
    EXPECT_TRUE(c.s3.no_overwrite);
    EXPECT_EQ(check_config(c), "") << "the [s3] settings matter only with blobs.adapter = \"s3\"";
    EXPECT_EQ(check_config(s3_config()), "");
}

TEST(S3Config, WhatTheS3AdapterNeedsIsChecked) {
    auto refused = [](const std::function<void(Config&)>& change, const std::string& part) {
        auto c = s3_config();
        change(c);
        auto why = check_config(c);
        EXPECT_NE(why.find(part), std::string::npos) << "\"" << why << "\" should say " << part;
    };
    refused([](Config& c) { c.s3.endpoint = ""; }, "s3.endpoint is needed");
    refused([](Config& c) { c.s3.bucket = ""; }, "s3.bucket is needed");
    refused([](Config& c) { c.s3.access_key_id = ""; }, "s3.access_key_id and s3.secret_access_key are needed");
    refused([](Config& c) { c.s3.secret_access_key = ""; }, "s3.access_key_id and s3.secret_access_key are needed");
    refused([](Config& c) { c.s3.endpoint = "s3.amazonaws.com"; }, "the scheme must be http or https");
    refused([](Config& c) { c.s3.endpoint = "https://s3.amazonaws.com/bucket"; }, "no path");
    refused([](Config& c) { c.s3.bucket = "My_Bucket"; }, "S3 bucket \"My_Bucket\"");
    refused([](Config& c) { c.s3.region = "EU Central"; }, "region");
    refused([](Config& c) { c.s3.path_style = false; }, "is an IP address: use path-style URLs");
    refused([](Config& c) { c.s3.access_key_id = "a,b"; }, "access key id");

    EXPECT_EQ(load({"--blobs", "gcs"}, {}).exit_code, 2);
    EXPECT_EQ(load({"--blobs", "s3"}, {}).exit_code, 2) << "no endpoint";
    EXPECT_EQ(load({}, {"NATTER_S3_PATH_STYLE=maybe"}).exit_code, 2);
    EXPECT_EQ(load({}, {"NATTER_S3_BUCKETS=x"}).exit_code, 2) << "a misspelt setting";
}

TEST(S3Config, PrintedSettingsHideTheSecrets) {
    auto c = s3_config();
    c.s3.session_token = "the-session-token";
    auto text = config_to_toml(c);
    auto printed = toml::parse(text);
    EXPECT_EQ(printed["s3"]["endpoint"].value_or(std::string()), "http://127.0.0.1:9000");
    EXPECT_EQ(printed["s3"]["access_key_id"].value_or(std::string()), "natter");
    EXPECT_EQ(printed["s3"]["secret_access_key"].value_or(std::string()), "<redacted>");
    EXPECT_EQ(printed["s3"]["session_token"].value_or(std::string()), "<redacted>");
    EXPECT_EQ(printed["s3"]["path_style"].value_or(false), true);
    EXPECT_EQ(text.find("natter-secret"), std::string::npos) << text;
    EXPECT_EQ(text.find("the-session-token"), std::string::npos) << text;
    // An empty secret has nothing to hide, and says so.
    c.s3.session_token = "";
    printed = toml::parse(config_to_toml(c));
    EXPECT_EQ(printed["s3"]["session_token"].value_or(std::string("?")), "");
    EXPECT_EQ(printed["auth"]["token_key"].value_or(std::string("?")), "") << "made once into DATA/token.key";
}

}  // namespace
}  // namespace natter
