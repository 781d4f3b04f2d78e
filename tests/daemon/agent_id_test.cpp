// The agent id and its binding to the machine (issue 21): the pure check, and the state_dir files
// as bind_agent_to_machine leaves them (a temp dir; the machine id file stands in for
// /etc/machine-id).
#include "daemon/pat/agent_id.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/temp_dir.h"

namespace dbx {
namespace {

const std::string kRandom(32, 'c');
const std::string kId1 = "0123456789abcdef0123456789abcdef";
const std::string kId2 = "fedcba9876543210fedcba9876543210";

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(MachineCheck, TheSameMachineIdKeepsTheAgentAnotherOneDoesNot) {
  const MachineNow one{kId1, "vm"};
  const MachineNow two{kId2, "vm"};
  const auto first = check_machine(std::nullopt, one, kRandom);
  EXPECT_FALSE(first.same_machine);  // no record: the agent id cannot be proved to be ours
  EXPECT_EQ(first.record, machine_id_record(kId1));
  EXPECT_TRUE(check_machine(first.record, one, kRandom).same_machine);
  const auto cloned = check_machine(first.record, two, kRandom);
  EXPECT_FALSE(cloned.same_machine);
  EXPECT_EQ(cloned.record, machine_id_record(kId2));
}

TEST(MachineCheck, TheRecordIsADigestNeverTheMachineId) {
  const std::string r = machine_id_record(kId1);
  EXPECT_EQ(r.find(kId1), std::string::npos);
  EXPECT_EQ(r.rfind("machine-id:", 0), 0u);
  EXPECT_EQ(r.size(), std::string("machine-id:").size() + 64);
  EXPECT_NE(r, machine_id_record(kId2));
}

TEST(MachineCheck, WithoutAMachineIdTheHostNameAndARandomValueStandIn) {
  const MachineNow vm{std::nullopt, "build-07"};
  const auto first = check_machine(std::nullopt, vm, kRandom);
  EXPECT_FALSE(first.same_machine);
  EXPECT_EQ(first.record, "host:build-07:" + kRandom);
  // The stored random value is kept; a fresh one is not used.
  const auto again = check_machine(first.record, vm, std::string(32, 'd'));
  EXPECT_TRUE(again.same_machine);
  EXPECT_EQ(again.record, first.record);
  // Another host name, or a machine that has a machine id now: another machine.
  EXPECT_FALSE(
      check_machine(first.record, MachineNow{std::nullopt, "build-08"}, kRandom).same_machine);
  EXPECT_FALSE(check_machine(first.record, MachineNow{kId1, "build-07"}, kRandom).same_machine);
  // A name that would break the record's fields is encoded.
  EXPECT_EQ(check_machine(std::nullopt, MachineNow{std::nullopt, "a:b"}, kRandom).record,
            "host:a%3Ab:" + kRandom);
  // A malformed host record is not this machine's.
  EXPECT_FALSE(check_machine("host:build-07:xyz", vm, kRandom).same_machine);
}

class AgentBindingTest : public ::testing::Test {
 protected:
  testing::TempDir dir;
  std::string state = dir / "state";
  std::string machine1 = dir.write("m1", kId1 + "\n");
  std::string machine2 = dir.write("m2", kId2 + "\n");
  void SetUp() override { ::mkdir(state.c_str(), 0700); }
};

TEST_F(AgentBindingTest, FirstStartMakesAnAgentAndRecordsTheMachine0600) {
  auto b = bind_agent_to_machine(state, machine1);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_FALSE(b->previous_agent_id);
  EXPECT_EQ(read(state + "/agent_id"), b->agent_id);
  EXPECT_EQ(read(state + "/machine"), machine_id_record(kId1));
  EXPECT_EQ(mode_of(state + "/agent_id"), 0600u);
  EXPECT_EQ(mode_of(state + "/machine"), 0600u);
  // The ledger's own loader reads the same id.
  auto loaded = load_or_create_agent_id(state);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, b->agent_id);
  // A restart on the same machine keeps it.
  auto again = bind_agent_to_machine(state, machine1);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->agent_id, b->agent_id);
  EXPECT_FALSE(again->previous_agent_id);
}

TEST_F(AgentBindingTest, ACopyOnAnotherMachineIsANewAgentAndLeavesTheLedgerAside) {
  auto first = bind_agent_to_machine(state, machine1);
  ASSERT_TRUE(first);
  dir.write("state/pats/prod.json", "{\"version\":1}");
  auto clone = bind_agent_to_machine(state, machine2);
  ASSERT_TRUE(clone) << clone.error().message;
  EXPECT_NE(clone->agent_id, first->agent_id);
  EXPECT_EQ(clone->previous_agent_id, first->agent_id);
  EXPECT_EQ(clone->previous_ledger, state + "/pats.agent-" + first->agent_id);
  EXPECT_TRUE(std::filesystem::exists(clone->previous_ledger + "/prod.json"));
  EXPECT_FALSE(std::filesystem::exists(state + "/pats"));
  EXPECT_NE(clone->recorded_fingerprint, clone->machine_fingerprint);
  EXPECT_EQ(clone->recorded_fingerprint.find(kId1), std::string::npos);
  EXPECT_EQ(read(state + "/agent_id"), clone->agent_id);
  EXPECT_EQ(read(state + "/machine"), machine_id_record(kId2));
  EXPECT_FALSE(std::filesystem::exists(state + "/agent_id.tmp"));
  // From then on it is that machine's agent.
  auto again = bind_agent_to_machine(state, machine2);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->agent_id, clone->agent_id);
  EXPECT_FALSE(again->previous_agent_id);
}

TEST_F(AgentBindingTest, AnAgentIdWithoutAMachineRecordIsReplaced) {
  // A state_dir from before the binding (or a copy without the record): not provably ours.
  dir.write("state/agent_id", std::string(32, '5') + "\n");
  auto b = bind_agent_to_machine(state, machine1);
  ASSERT_TRUE(b);
  EXPECT_NE(b->agent_id, std::string(32, '5'));
  EXPECT_EQ(b->previous_agent_id, std::string(32, '5'));
  EXPECT_TRUE(b->recorded_fingerprint.empty());
}

TEST_F(AgentBindingTest, NoMachineIdFileUsesTheHostRecordAndKeepsIt) {
  auto b = bind_agent_to_machine(state, dir / "absent");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(read(state + "/machine").rfind("host:", 0), 0u);
  auto again = bind_agent_to_machine(state, dir / "absent");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->agent_id, b->agent_id);
  // "uninitialized" (an image before first boot) and an empty file mean none, too.
  EXPECT_EQ(bind_agent_to_machine(state, dir.write("u", "uninitialized\n"))->agent_id, b->agent_id);
  EXPECT_EQ(bind_agent_to_machine(state, dir.write("e", ""))->agent_id, b->agent_id);
}

TEST_F(AgentBindingTest, AMalformedAgentIdIsAnErrorNamingThePath) {
  dir.write("state/agent_id", "nonsense\n");
  auto b = bind_agent_to_machine(state, machine1);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find(state + "/agent_id"), std::string::npos);
  EXPECT_EQ(read(state + "/agent_id"), "nonsense");  // never guessed over
}

}  // namespace
}  // namespace dbx
