#pragma once
// What the fuzz targets share: the chat services on a real SQLite store, the
// local bus, presence and blob store, in a directory of their own, with a
// manual clock and node 1, so the users made at start-up get the same ids on
// every run (the seed corpora name them). Built once per process and never
// torn down: libFuzzer ends the process with exit(), and the store's threads
// must not see their objects destroyed under them. The directory goes at exit.
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "adapters/localblobs/local_blobs.hpp"
#include "adapters/localbus/local_bus.hpp"
#include "adapters/localpresence/local_presence.hpp"
#include "adapters/sqlite/sqlite_store.hpp"
#include "chat/accounts.hpp"
#include "chat/groups.hpp"
#include "chat/history.hpp"
#include "chat/media.hpp"
#include "chat/messaging.hpp"
#include "chat/password_hasher.hpp"
#include "chat/presence.hpp"
#include "chat/token_signer.hpp"
#include "core/limits.hpp"
#include "obs/log.hpp"
#include "ports/clock.hpp"
#include "transport/server.hpp"  // BlockingPool

namespace natter::fuzz {

// The clock every target runs on: 2025-06-15, never moving by itself.
constexpr std::int64_t kT0 = 1'750'000'000'000;
inline const std::string kPassword = "correct horse battery";

// A directory under $TMPDIR (make fuzz points it into its work directory),
// removed at exit; a crash leaves it for the post-mortem.
inline std::string make_work_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/natter-fuzz-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed under " + pattern);
    static std::string dir = pattern;
    std::atexit([] {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    });
    return dir;
}

struct World {
    World() {
        init_logging("text", "off");  // the fuzzer's output is its own
        // Generous rates: the fuzzer sends thousands of frames a second from
        // one socket, and a closed bucket would hide the decoder behind it.
        limits.frame_rate_per_s = 1e9;
        limits.frame_burst = 1e9;
        limits.send_rate_per_s = 1e9;
        limits.send_burst = 1e9;
        limits.login_rate_per_s = 1e9;
        limits.login_burst = 1e9;
        limits.group_changes_per_min = 1e9;
        media_policy.uploads_per_min = 1e9;
        media_policy.upload_burst = 1e9;

        auto blocking = [p = &pool](std::function<void()> fn) { p->post(std::move(fn)); };
        accounts = std::make_unique<AccountService>(store.ports(), bus, hasher, signer, ids, clock, limits);
        messaging = std::make_unique<MessagingService>(store.ports(), bus, ids, clock, limits, blocking);
        presence = std::make_unique<PresenceService>(presence_store, store.ports(), bus, clock, limits, blocking, "fuzz");
        media = std::make_unique<MediaService>(store.ports(), blobs, ids, clock, media_policy);
        messaging->set_media(media.get());
        groups = std::make_unique<GroupService>(store.ports(), *messaging, ids, clock, limits);
        history = std::make_unique<HistoryService>(store.ports());

        alice = sign_up("alice");
        bob = sign_up("bob");
        auto g = groups->create(alice, "fuzzers", {bob.user});
        if (!g) throw std::runtime_error("fuzz world: group: " + g.error().message);
        group_id = g->group_id;
    }

    // Registers `name` and signs in one device; the grant's tokens are kept.
    Principal sign_up(const std::string& name) {
        auto id = accounts->register_user(name, kPassword, name);
        if (!id) throw std::runtime_error("fuzz world: register " + name + ": " + id.error().message);
        auto grant = accounts->login(name, kPassword, std::nullopt, "fuzz");
        if (!grant) throw std::runtime_error("fuzz world: login " + name + ": " + grant.error().message);
        if (name == "alice") alice_access = grant->access_token;
        auto who = accounts->authenticate(grant->access_token);
        if (!who) throw std::runtime_error("fuzz world: authenticate " + name + ": " + who.error().message);
        return *who;
    }

    std::string dir = make_work_dir();
    ManualClock clock{kT0};
    IdGenerator ids{1};
    Limits limits;
    MediaPolicy media_policy;
    sqlite::SqliteStore store{sqlite::SqliteConfig{dir + "/natter.db", false}};
    localbus::LocalBus bus;
    localpresence::LocalPresence presence_store;
    localblobs::LocalBlobs blobs{localblobs::LocalBlobsConfig{dir + "/blobs", std::string(32, 'k'), ""}};
    PasswordHasher hasher{PasswordCost{1, 8, 1}};  // the cheapest argon2id: the fuzzer signs in often
    TokenSigner signer{std::string(40, 's')};
    BlockingPool pool{2};
    std::unique_ptr<AccountService> accounts;
    std::unique_ptr<MessagingService> messaging;
    std::unique_ptr<PresenceService> presence;
    std::unique_ptr<MediaService> media;
    std::unique_ptr<GroupService> groups;
    std::unique_ptr<HistoryService> history;
    Principal alice, bob;
    std::string alice_access;
    std::uint64_t group_id = 0;
};

// The world, made on first use and kept to the end of the process.
inline World& world() {
    static World* w = new World();
    return *w;
}

// Fails the run (libFuzzer saves the input) with what was wrong.
[[noreturn]] inline void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
    std::abort();
}

}  // namespace natter::fuzz
