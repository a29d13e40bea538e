#include "pg_fixture.hpp"

#include <atomic>
#include <cctype>
#include <memory>

namespace natter::pgtest {

namespace {

std::unique_ptr<test::PgServer>& shared_slot() {
    static std::unique_ptr<test::PgServer> slot;
    return slot;
}

class StopShared : public ::testing::Environment {
public:
    void TearDown() override { shared_slot().reset(); }
};
[[maybe_unused]] auto* const kStopShared = ::testing::AddGlobalTestEnvironment(new StopShared);

}  // namespace

test::PgServer& shared_server() {
    auto& slot = shared_slot();
    if (!slot) slot = std::make_unique<test::PgServer>();
    return *slot;
}

void PgTest::SetUp() {
    static std::atomic<int> n{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "t" + std::to_string(n++) + "_" + info->name();
    for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    conninfo_ = shared_server().create_database(name.substr(0, 60));
}

}  // namespace natter::pgtest
