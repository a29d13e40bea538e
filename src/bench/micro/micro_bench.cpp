// The hot pieces of the send path, one at a time: frame parse and
// serialise, UTF-8 counting, id generation, token check, and the store's
// group-committed send. Each family has a baseline in the same run (a string
// copy, a hash) so figures can be read as ratios on a noisy machine.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <latch>

#include <nlohmann/json.hpp>

#include "adapters/sqlite/sqlite_store.hpp"
#include "chat/frames.hpp"
#include "chat/token_signer.hpp"
#include "core/conversation.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"

namespace {

using namespace natter;

const std::string kSendFrame =
    R"({"type":"send","id":"42","client_msg_id":"0aff8132-237f-4feb-8977-0b3b45a08e35",)"
    R"("to":{"user":"384817174226870272"},"body":"see you at the station at six, bring the tickets please"})";

StoredMessage sample_message() {
    StoredMessage m;
    m.message_id = 384817267042623488ull;
    m.client_msg_id = "0aff8132-237f-4feb-8977-0b3b45a08e35";
    m.conversation_id = "d:384817174059098112:384817174226870272";
    m.seq = 1234;
    m.prev_message_id = 384817267042623487ull;
    m.from_user = 384817174059098112ull;
    m.from_device = 384817218476777472ull;
    m.to_json = R"({"user":"384817174226870272"})";
    m.body = "see you at the station at six, bring the tickets please";
    m.ts = 1795814786022;
    return m;
}

void BM_Baseline_CopyFrame(benchmark::State& state) {
    for (auto _ : state) {
        std::string copy = kSendFrame;
        benchmark::DoNotOptimize(copy);
    }
}
BENCHMARK(BM_Baseline_CopyFrame);

void BM_ParseSendFrame(benchmark::State& state) {
    for (auto _ : state) {
        auto j = nlohmann::json::parse(kSendFrame, nullptr, false);
        benchmark::DoNotOptimize(j);
    }
}
BENCHMARK(BM_ParseSendFrame);

void BM_SerialiseMessageFrame(benchmark::State& state) {
    auto m = sample_message();
    for (auto _ : state) benchmark::DoNotOptimize(message_frame(m));
}
BENCHMARK(BM_SerialiseMessageFrame);

void BM_Utf8Length500(benchmark::State& state) {
    std::string body;
    for (int i = 0; i < 250; ++i) body += "a\xC3\xA9";  // 500 code points, ASCII and 2-byte
    for (auto _ : state) benchmark::DoNotOptimize(utf8_length(body));
}
BENCHMARK(BM_Utf8Length500);

void BM_IdNext(benchmark::State& state) {
    IdGenerator ids(7);
    std::int64_t now = 1795814786022;
    for (auto _ : state) benchmark::DoNotOptimize(ids.next(now));
}
BENCHMARK(BM_IdNext);

void BM_Baseline_Sha256(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(sha256_hex(kSendFrame));
}
BENCHMARK(BM_Baseline_Sha256);

void BM_TokenVerify(benchmark::State& state) {
    TokenSigner signer("micro-benchmark-key-0123456789-0123456789");
    auto token = signer.sign(AccessClaims{1, 2, 0, 4102444800}, 1795814786);
    for (auto _ : state) benchmark::DoNotOptimize(signer.verify(token, 1795814786));
}
BENCHMARK(BM_TokenVerify);

// Sends of `state.range(0)` concurrent requests into one conversation, waited
// for together: the writer batches them into few transactions.
void BM_StoreCommitSend(benchmark::State& state) {
    auto dir = std::filesystem::temp_directory_path() / ("natter-micro-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        sqlite::SqliteStore store(sqlite::SqliteConfig{(dir / "natter.db").string(), false});
        UserRecord a{1, "alice", "x", "alice", "", std::nullopt, 0}, b{2, "bob", "x", "bob", "", std::nullopt, 0};
        store.create_user(a);
        store.create_user(b);
        store.open_device(1, std::nullopt, 11, "d", 0, 10);
        store.open_device(2, std::nullopt, 21, "d", 0, 10);
        IdGenerator ids(1);
        std::uint64_t n = 0;
        const auto batch = state.range(0);
        for (auto _ : state) {
            std::latch done(batch);
            for (int i = 0; i < batch; ++i) {
                SendRequest req;
                req.conversation_id = direct_conversation(1, 2).str();
                req.participants = {1, 2};
                req.recipient = 2;
                req.sender = 1;
                req.sender_device = 11;
                req.client_msg_id = std::to_string(++n);
                req.payload_hash = "h";
                req.new_message_id = ids.next(1795814786022);
                req.to_json = R"({"user":"2"})";
                req.body = "see you at the station at six";
                req.ts = 1795814786022;
                store.commit_send(std::move(req), [&](Result<SendOutcome>) { done.count_down(); });
            }
            done.wait();
        }
        state.SetItemsProcessed(state.iterations() * batch);
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StoreCommitSend)->Arg(1)->Arg(64)->Arg(512)->UseRealTime();

}  // namespace
