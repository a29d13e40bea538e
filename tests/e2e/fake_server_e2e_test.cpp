// The failures natterd cannot be made to produce on cue, against a scripted
// WebSocket server: a connection dropped before `sent`, 4008, duplicate
// pushes, ack batching, a refused handshake.
#include <mutex>

#include "e2e/e2e_fixture.hpp"
#include "e2e/fake_ws_server.hpp"

namespace natter::e2e {
namespace {

// Frames the fake server saw, per connection.
struct Seen {
    std::mutex mu;
    std::vector<std::vector<json>> frames;
    void add(std::size_t conn, const json& f) {
        std::lock_guard lock(mu);
        if (frames.size() <= conn) frames.resize(conn + 1);
        frames[conn].push_back(f);
    }
    // The ids of the `ack` frames of one connection, one list per frame.
    std::vector<std::vector<std::string>> acks(std::size_t conn) {
        std::vector<std::vector<std::string>> out;
        for (const auto& f : conn < frames.size() ? frames[conn] : std::vector<json>{})
            if (f["type"] == "ack") out.push_back(f["message_ids"].get<std::vector<std::string>>());
        return out;
    }
};

std::vector<std::string> flatten(const std::vector<std::vector<std::string>>& batches) {
    std::vector<std::string> out;
    for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
    return out;
}

json message(int seq, const std::string& body) {
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", seq);
    return {{"type", "message"},
            {"message_id", std::to_string(1000 + seq)},
            {"client_msg_id", uuid},
            {"conversation_id", "d:1:5"},
            {"seq", seq},
            {"prev_message_id", seq == 1 ? "0" : std::to_string(999 + seq)},
            {"kind", "text"},
            {"from", {{"user", "5"}, {"device", "6"}}},
            {"to", {{"user", "1"}}},
            {"body", body},
            {"ts", 1795816743045}};
}

json sent_for(const json& send) {
    return {{"type", "sent"},           {"id", send["id"]}, {"client_msg_id", send["client_msg_id"]},
            {"conversation_id", "d:1:5"}, {"seq", 7},         {"message_id", "99"},
            {"prev_message_id", "98"},  {"ts", 1795816743045}};
}

// Records frames until the client closes (or the fake's read deadline).
void record_until_closed(FakeConnection& c, Seen& seen, std::size_t conn) {
    while (auto f = c.read()) seen.add(conn, *f);
}

class FakeServer : public E2E {
protected:
    // A signed-in profile "alice" (user 1, device 2) whose server is the fake.
    CliResult run(const std::string& url, const std::vector<std::string>& args) {
        write_profile("alice", {{"server", url},
                                {"username", "alice"},
                                {"user_id", "1"},
                                {"device_id", "2"},
                                {"access_token", "fake-access"},
                                {"access_expires_at", std::int64_t(4102444800000)},  // 2100: no refresh
                                {"refresh_token", "1.fake"}});
        std::vector<std::string> all{"--profile", "alice"};
        all.insert(all.end(), args.begin(), args.end());
        auto p = start_raw(all);
        p->close_stdin();
        p->wait();
        return p->result();
    }
};

TEST_F(FakeServer, SendRetriesTheSameFrameOnceAfterADrop) {
    Seen seen;
    CliResult r;
    std::string auth;
    {
        FakeWsServer fake({
            [&](FakeConnection& c) {
                if (auto f = c.read()) seen.add(0, *f);
                c.drop();  // the frame arrived; no answer ever leaves
            },
            [&](FakeConnection& c) {
                auth = c.authorization();
                auto f = c.read();
                if (!f) return;
                seen.add(1, *f);
                c.send(sent_for(*f));
                record_until_closed(c, seen, 1);
            },
        });
        r = run(fake.url(), {"send", "5", "hello"});
        EXPECT_TRUE(fake.failures().empty());
    }
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "sent: conversation=d:1:5 seq=7 message_id=99\n");
    EXPECT_NE(r.err.find("retrying"), std::string::npos) << r.err;
    EXPECT_EQ(auth, "Bearer fake-access");
    ASSERT_EQ(seen.frames.size(), 2u);
    EXPECT_EQ(seen.frames[0][0]["type"], "send");
    EXPECT_EQ(seen.frames[0][0]["to"], json({{"user", "5"}}));
    EXPECT_EQ(seen.frames[0][0]["body"], "hello");
    EXPECT_EQ(seen.frames[1][0]["client_msg_id"], seen.frames[0][0]["client_msg_id"]);  // the same send
}

TEST_F(FakeServer, SendGivesUpAfterTheSecondDrop) {
    CliResult r;
    {
        auto drop_after_read = [](FakeConnection& c) {
            c.read();
            c.drop();
        };
        FakeWsServer fake({drop_after_read, drop_after_read, drop_after_read});
        r = run(fake.url(), {"send", "5", "hello"});
    }
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("lost the connection"), std::string::npos) << r.err;
}

TEST_F(FakeServer, SendDoesNotAckWhatIsPushedMeanwhile) {
    Seen seen;
    CliResult r;
    {
        FakeWsServer fake({[&](FakeConnection& c) {
            c.send(message(1, "pushed while sending"));
            auto f = c.read();
            if (!f) return;
            seen.add(0, *f);
            c.send(sent_for(*f));
            record_until_closed(c, seen, 0);
        }});
        r = run(fake.url(), {"send", "5", "hello"});
    }
    EXPECT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(seen.frames.size(), 1u);
    EXPECT_TRUE(seen.acks(0).empty()) << seen.frames[0].back().dump();
}

TEST_F(FakeServer, ListenReconnectsAfter4008AndShowsEachMessageOnce) {
    Seen seen;
    CliResult r;
    {
        FakeWsServer fake({
            [&](FakeConnection& c) {
                c.send(message(1, "one"));
                c.close(4008, "too slow: reconnect and sync");
            },
            [&](FakeConnection& c) {
                c.send(message(1, "one"));  // unacked, so pushed again
                c.send(message(2, "two"));
                record_until_closed(c, seen, 1);
            },
        });
        r = run(fake.url(), {"listen", "--count", "2"});
        EXPECT_TRUE(fake.failures().empty());
    }
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << r.out;
    EXPECT_EQ(lines[0], message(1, "one"));  // the frame as received
    EXPECT_EQ(lines[1]["body"], "two");
    EXPECT_NE(r.err.find("4008"), std::string::npos) << r.err;
    // The duplicate is acked again, not shown again.
    EXPECT_EQ(flatten(seen.acks(1)), (std::vector<std::string>{"1001", "1002"}));
}

TEST_F(FakeServer, ListenAcksInBatchesOf64) {
    Seen seen;
    CliResult r;
    {
        FakeWsServer fake({[&](FakeConnection& c) {
            for (int i = 1; i <= 100; ++i) c.send(message(i, "m" + std::to_string(i)));
            record_until_closed(c, seen, 0);
        }});
        r = run(fake.url(), {"listen", "--count", "100"});
    }
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json_lines(r.out).size(), 100u);
    auto acks = seen.acks(0);
    // Typically 64 + 36; a pause of 100 ms on a loaded machine may cut a batch short.
    EXPECT_GE(acks.size(), 2u);
    EXPECT_LE(acks.size(), 5u);
    for (const auto& batch : acks) EXPECT_LE(batch.size(), 64u);
    auto ids = flatten(acks);
    ASSERT_EQ(ids.size(), 100u);
    EXPECT_EQ(ids.front(), "1001");
    EXPECT_EQ(ids.back(), "1100");
}

TEST_F(FakeServer, FramesOfUnknownTypesOrShapesNeverBreakListen) {
    Seen seen;
    CliResult r;
    {
        FakeWsServer fake({[&](FakeConnection& c) {
            c.send({{"type", "from_a_newer_server"}, {"data", {{"a", 1}}}});
            c.send(json::array({1, 2, 3}));
            c.send({{"no_type", true}});
            c.send({{"type", 42}});
            c.send({{"type", "receipt"}, {"by", 5}, {"status", 7}, {"up_to_seq", "x"}});
            c.send({{"type", "typing"}, {"user", {{"a", 1}}}, {"state", nullptr}});
            c.send({{"type", "presence"}, {"user", "not an id"}, {"status", "away"}, {"last_seen", "yesterday"}});
            c.send({{"type", "message"}, {"message_id", "2001"}, {"kind", "system"}, {"event", "garbage"},
                    {"from", "nobody"}, {"seq", "x"}});
            c.send(message(1, "still here"));
            record_until_closed(c, seen, 0);
        }});
        r = run(fake.url(), {"listen", "--count", "2", "--notices"});
        EXPECT_TRUE(fake.failures().empty());
    }
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 5u) << r.out;  // the receipt, typing and presence frames (--notices), two messages
    EXPECT_EQ(lines[0]["type"], "receipt");
    EXPECT_EQ(lines[1]["type"], "typing");
    EXPECT_EQ(lines[2]["type"], "presence");
    EXPECT_EQ(lines[3]["message_id"], "2001");
    EXPECT_EQ(lines[4]["body"], "still here");
    EXPECT_EQ(flatten(seen.acks(0)), (std::vector<std::string>{"2001", "1001"}));
}

TEST_F(FakeServer, ARefusedHandshakeIsTheServersError) {
    CliResult r;
    {
        FakeWsServer fake({});
        r = run(fake.url(), {"listen"});
    }
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "natter: unavailable: fake: no script left\n");
}

}  // namespace
}  // namespace natter::e2e
