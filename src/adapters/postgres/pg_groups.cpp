// The PostgreSQL store's groups and receipt watermarks. A group, its members
// and their watermarks live on the home shard of its conversation
// ("g:<id>"), beside its messages; a change is one transaction there, in the
// group's order with its sends, then fanned out through the outbox like a
// send. What spans a user's conversations (receipts_since, contacts_among)
// asks every shard.
#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "adapters/postgres/pg_store_internal.hpp"
#include "core/conversation.hpp"
#include "obs/log.hpp"

namespace natter::pg {

namespace {

std::optional<Membership> membership_in(Connection& c, const std::string& conversation_id, UserId user) {
    auto r = c.exec("SELECT role, joined_seq FROM members WHERE conversation_id=$1 AND user_id=$2",
                    {Param::text(conversation_id), Param::id(user)});
    if (r.empty()) return std::nullopt;
    return Membership{r.text(0, 0) == "admin", r.i64(0, 1)};
}

void add_member(Connection& c, const std::string& conversation_id, UserId user, bool admin, std::int64_t joined_seq) {
    // Watermarks start at 0; unread and receipts count from joined_seq.
    c.exec("INSERT INTO members(conversation_id, user_id, role, joined_seq) VALUES($1,$2,$3,$4)",
           {Param::text(conversation_id), Param::id(user), Param::text(admin ? "admin" : "member"), Param::i64(joined_seq)});
}

std::string too_many(std::size_t max) { return "a group has at most " + std::to_string(max) + " members"; }

constexpr const char* kReceiptColumns =
    "m2.conversation_id, m2.user_id, m2.delivered_seq, m2.read_seq, m2.receipt_at, m2.joined_seq";

MemberReceipt receipt_from(const Rows& r, int row) {
    return MemberReceipt{std::string(r.text(row, 0)), r.id(row, 1), r.i64(row, 2), r.i64(row, 3), r.i64(row, 4),
                         r.i64(row, 5)};
}

}  // namespace

// ---- GroupStore

void PgStore::change_group(GroupChange change, std::function<void(Result<SendOutcome>)> done) {
    if (queued_writes_.load() >= config_.max_queue) return done(err(Code::unavailable, "the store is overloaded; retry"));
    ++queued_writes_;
    auto key = group_conversation(change.group_id).str();
    post(key, [this, c = std::move(change), done = std::move(done)]() mutable {
        --queued_writes_;
        Result<SendOutcome> out = err(Code::unavailable, "the store could not change the group");
        try {
            out = change_group_now(c);
        } catch (const Error& e) {
            out = e.kind == ErrorKind::connection ? shard_down(e.message)
                                                  : err(Code::unavailable, "the store could not change the group: " + e.message);
        }
        done(std::move(out));
    });
}

Result<SendOutcome> PgStore::change_group_now(const GroupChange& c) {
    const std::string conversation_id = group_conversation(c.group_id).str();
    // Users live on their own shards: checked before the home transaction.
    if (c.kind == GroupChange::Kind::create) {
        for (UserId u : c.members)
            if (!user_by_id(u)) return err(Code::not_found, "no such user: " + id_string(u));
    }
    bool added_user_exists = c.kind != GroupChange::Kind::add || user_by_id(c.user).has_value();

    SendOutcome out;
    StoredMessage& m = out.message;
    m.message_id = c.new_message_id;
    m.client_msg_id = c.client_msg_id;
    m.conversation_id = conversation_id;
    m.kind = MessageKind::system;
    m.from_user = c.actor;
    m.from_device = c.actor_device;
    m.to_json = nlohmann::json{{"group", id_string(c.group_id)}}.dump();
    m.ts = c.ts;
    std::vector<UserId> targets;
    auto committed = on(conversation_shard(conversation_id), [&](Connection& conn) {
        return conn.transaction([&](Connection& t) -> Result<bool> {
            GroupEvent ev;
            ev.by = c.actor;
            std::int64_t last_seq = 0;
            MessageId last_id = 0;
            if (c.kind == GroupChange::Kind::create) {
                if (1 + c.members.size() > c.max_members) return err(Code::conflict, too_many(c.max_members));
                t.exec("INSERT INTO groups(group_id, name, created_by, created_at) VALUES($1,$2,$3,$4)",
                       {Param::id(c.group_id), Param::text(c.name), Param::id(c.actor), Param::i64(c.ts)});
                t.exec("INSERT INTO conversations(conversation_id, last_seq, last_message_id, created_at) VALUES($1,0,0,$2)",
                       {Param::text(conversation_id), Param::i64(c.ts)});
                add_member(t, conversation_id, c.actor, true, 1);
                for (UserId u : c.members) add_member(t, conversation_id, u, false, 1);
                ev.type = GroupEvent::Type::created;
                ev.name = c.name;
                ev.members.push_back(c.actor);
                ev.members.insert(ev.members.end(), c.members.begin(), c.members.end());
            } else {
                auto last = t.exec("SELECT last_seq, last_message_id FROM conversations WHERE conversation_id=$1 FOR UPDATE",
                                   {Param::text(conversation_id)});
                if (last.empty()) return err(Code::not_found, "no such group");
                last_seq = last.i64(0, 0);
                last_id = last.id(0, 1);
                auto actor = membership_in(t, conversation_id, c.actor);
                if (!actor) return err(Code::forbidden, "not a member of this group");
                if (c.kind == GroupChange::Kind::add) {
                    if (!actor->admin) return err(Code::forbidden, "only admins can add members");
                    if (!added_user_exists) return err(Code::not_found, "no such user");
                    if (membership_in(t, conversation_id, c.user)) return err(Code::conflict, "already a member of this group");
                    auto n = t.exec("SELECT count(*) FROM members WHERE conversation_id=$1", {Param::text(conversation_id)});
                    if (std::size_t(n.i64(0, 0)) >= c.max_members) return err(Code::conflict, too_many(c.max_members));
                    ev.type = GroupEvent::Type::added;
                    ev.user = c.user;
                } else {
                    bool leaving = c.user == c.actor;
                    if (!leaving && !actor->admin) return err(Code::forbidden, "only admins can remove other members");
                    auto target = leaving ? actor : membership_in(t, conversation_id, c.user);
                    if (!target) return err(Code::not_found, "not a member of this group");
                    ev.type = leaving ? GroupEvent::Type::left : GroupEvent::Type::removed;
                    ev.user = c.user;
                    if (leaving) ev.by = 0;
                    if (target->admin) {
                        // The last admin going hands the group to its longest-standing member.
                        auto admins = t.exec("SELECT count(*) FROM members WHERE conversation_id=$1 AND role='admin'",
                                             {Param::text(conversation_id)});
                        if (admins.i64(0, 0) == 1) {
                            auto next = t.exec("SELECT user_id FROM members WHERE conversation_id=$1 AND user_id<>$2 "
                                               "ORDER BY joined_seq, user_id LIMIT 1",
                                               {Param::text(conversation_id), Param::id(c.user)});
                            if (!next.empty()) ev.new_admin = next.id(0, 0);
                        }
                    }
                }
            }
            m.event_json = group_event_json(ev);
            m.seq = last_seq + 1;
            m.prev_message_id = last_id;
            t.exec("INSERT INTO messages(message_id, conversation_id, seq, prev_message_id, kind, from_user, from_device, "
                   "client_msg_id, to_json, body, attachment, event, ts, media_id) "
                   "VALUES($1,$2,$3,$4,'system',$5,$6,$7,$8,NULL,NULL,$9,$10,NULL)",
                   {Param::id(m.message_id), Param::text(conversation_id), Param::i64(m.seq), Param::id(m.prev_message_id),
                    Param::id(m.from_user), Param::id(m.from_device), Param::text(m.client_msg_id), Param::text(m.to_json),
                    Param::text(m.event_json), Param::i64(m.ts)});
            t.exec("UPDATE conversations SET last_seq=$2, last_message_id=$3 WHERE conversation_id=$1",
                   {Param::text(conversation_id), Param::i64(m.seq), Param::id(m.message_id)});
            if (c.kind == GroupChange::Kind::add) add_member(t, conversation_id, c.user, false, m.seq);
            // Every member's devices get the change, the removed member's and
            // the acting device too (an HTTP call gets no `sent`).
            auto mb = t.exec("SELECT user_id FROM members WHERE conversation_id=$1 ORDER BY user_id=$2, user_id",
                             {Param::text(conversation_id), Param::id(c.actor)});
            for (int i = 0; i < mb.size(); ++i) targets.push_back(mb.id(i, 0));
            t.exec("INSERT INTO outbox(message_id, position, conversation_id, seq, target_user, skip_device, created_at) "
                   "SELECT $1, t.ord, $5, $6, t.u, $3, $4 FROM unnest($2::bigint[]) WITH ORDINALITY AS t(u, ord)",
                   {Param::id(m.message_id), id_array(targets), Param::id(0), Param::i64(m.ts), Param::text(conversation_id),
                    Param::i64(m.seq)});
            if (c.kind == GroupChange::Kind::remove) {
                t.exec("DELETE FROM members WHERE conversation_id=$1 AND user_id=$2",
                       {Param::text(conversation_id), Param::id(c.user)});
                if (ev.new_admin)
                    t.exec("UPDATE members SET role='admin' WHERE conversation_id=$1 AND user_id=$2",
                           {Param::text(conversation_id), Param::id(ev.new_admin)});
            }
            // As for a send: a target still waiting for older messages of the
            // group gets this one after them, from the retry.
            auto waiting = t.exec("SELECT DISTINCT target_user FROM outbox WHERE conversation_id=$1 AND seq<$2",
                                  {Param::text(conversation_id), Param::i64(m.seq)});
            for (int i = 0; i < waiting.size(); ++i) {
                auto u = waiting.id(i, 0);
                targets.erase(std::remove(targets.begin(), targets.end(), u), targets.end());
            }
            return true;
        });
    });
    if (!committed.ok()) return committed.error();
    out.targets = fan_out(m, targets, 0);
    return out;
}

std::optional<GroupRecord> PgStore::group(std::uint64_t group_id) {
    const std::string conversation_id = group_conversation(group_id).str();
    return on(conversation_shard(conversation_id), [&](Connection& c) -> std::optional<GroupRecord> {
        auto g = c.exec("SELECT name, created_at FROM groups WHERE group_id=$1", {Param::id(group_id)});
        if (g.empty()) return std::nullopt;
        GroupRecord out;
        out.group_id = group_id;
        out.name = std::string(g.text(0, 0));
        out.created_at = g.i64(0, 1);
        auto r = c.exec("SELECT user_id, role, joined_seq FROM members WHERE conversation_id=$1 ORDER BY joined_seq, user_id",
                        {Param::text(conversation_id)});
        for (int i = 0; i < r.size(); ++i) out.members.push_back(GroupMember{r.id(i, 0), r.text(i, 1) == "admin", r.i64(i, 2)});
        return out;
    });
}

std::optional<Membership> PgStore::membership(const std::string& conversation_id, UserId user) {
    return on(conversation_shard(conversation_id), [&](Connection& c) { return membership_in(c, conversation_id, user); });
}

std::vector<UserId> PgStore::members(const std::string& conversation_id) {
    return on(conversation_shard(conversation_id), [&](Connection& c) {
        auto r = c.exec("SELECT user_id FROM members WHERE conversation_id=$1 ORDER BY user_id", {Param::text(conversation_id)});
        std::vector<UserId> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(r.id(i, 0));
        return out;
    });
}

// Every shard holds some of the user's conversations: asked once each.
std::vector<UserId> PgStore::contacts_among(UserId user, const std::vector<UserId>& others) {
    if (others.empty()) return {};
    std::set<UserId> found;
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        on(shard, [&](Connection& c) {
            auto r = c.exec("SELECT DISTINCT m2.user_id FROM members m1 JOIN members m2 ON m2.conversation_id=m1.conversation_id "
                            "WHERE m1.user_id=$1 AND m2.user_id = ANY($2::bigint[])",
                            {Param::id(user), id_array(others)});
            for (int i = 0; i < r.size(); ++i) found.insert(r.id(i, 0));
            return 0;
        });
    }
    return {found.begin(), found.end()};
}

// ---- ReceiptStore

void PgStore::mark_read(UserId user, const std::string& conversation_id, std::int64_t up_to_seq, std::int64_t now,
                        std::function<void(Result<std::vector<ReceiptChange>>)> done) {
    post(conversation_id, [this, user, conversation_id, up_to_seq, now, done = std::move(done)] {
        using Changes = Result<std::vector<ReceiptChange>>;
        Changes out = err(Code::unavailable, "the store could not record the receipt");
        try {
            out = on(conversation_shard(conversation_id), [&](Connection& conn) {
                return conn.transaction([&](Connection& t) -> Changes {
                    auto last = t.exec("SELECT last_seq FROM conversations WHERE conversation_id=$1", {Param::text(conversation_id)});
                    if (last.empty()) return err(Code::not_found, "no such conversation (a 1:1 chat exists from its first message)");
                    auto marks = marks_of(t, conversation_id, user, true);
                    if (!marks)
                        return err(Code::forbidden, conversation_id[0] == 'g' ? "not a member of this group"
                                                                              : "not a participant of this conversation");
                    if (up_to_seq > last.i64(0, 0))
                        return err(Code::invalid, "up_to_seq is past the conversation's last message (" +
                                                      std::to_string(last.i64(0, 0)) + ")");
                    std::vector<ReceiptChange> changes;
                    // Reading what came before one joined says nothing.
                    if (up_to_seq > marks->read && up_to_seq > marks->before_join) {
                        auto delivered = std::max(marks->delivered, up_to_seq);  // seen implies delivered
                        t.exec("UPDATE members SET read_seq=$3, delivered_seq=$4, receipt_at=$5 "
                               "WHERE conversation_id=$1 AND user_id=$2",
                               {Param::text(conversation_id), Param::id(user), Param::i64(up_to_seq), Param::i64(delivered),
                                Param::i64(now)});
                        if (delivered > marks->delivered)
                            changes.push_back(ReceiptChange{
                                conversation_id, user, false, delivered,
                                senders_between(t, conversation_id, std::max(marks->delivered, marks->before_join), delivered, user)});
                        auto notify = senders_between(t, conversation_id, std::max(marks->read, marks->before_join), up_to_seq, user);
                        notify.push_back(user);  // the reader's other devices
                        changes.push_back(ReceiptChange{conversation_id, user, true, up_to_seq, std::move(notify)});
                    }
                    return changes;
                });
            });
        } catch (const Error& e) {
            out = err(Code::unavailable, "the store could not commit the receipt: " + e.message);
        }
        done(std::move(out));
    });
}

std::vector<MemberReceipt> PgStore::receipts(const std::string& conversation_id) {
    return on(conversation_shard(conversation_id), [&](Connection& c) {
        auto r = c.exec(std::string("SELECT ") + kReceiptColumns + " FROM members m2 WHERE m2.conversation_id=$1 ORDER BY m2.user_id",
                        {Param::text(conversation_id)});
        std::vector<MemberReceipt> out;
        for (int i = 0; i < r.size(); ++i) out.push_back(receipt_from(r, i));
        return out;
    });
}

std::vector<MemberReceipt> PgStore::receipts_since(UserId user, std::int64_t since, std::size_t limit) {
    static const std::string sql = std::string("SELECT ") + kReceiptColumns +
                                   " FROM members m1 JOIN members m2 ON m2.conversation_id=m1.conversation_id"
                                   " WHERE m1.user_id=$1 AND m2.receipt_at>$2"
                                   // The user's own row, or another member's covering a message the user sent
                                   // since that member joined (as the SQLite store judges it).
                                   " AND (m2.user_id=m1.user_id OR"
                                   "  (m1.first_sent_seq>0 AND m2.delivered_seq>=m1.first_sent_seq"
                                   "   AND m1.last_sent_seq>=m2.joined_seq))"
                                   " ORDER BY m2.receipt_at LIMIT $3";
    std::vector<MemberReceipt> all;
    for (std::size_t shard = 0; shard < pools_.size(); ++shard) {
        on(shard, [&](Connection& c) {
            auto r = c.exec(sql, {Param::id(user), Param::i64(since), Param::i64(std::int64_t(limit))});
            for (int i = 0; i < r.size(); ++i) all.push_back(receipt_from(r, i));
            return 0;
        });
    }
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.changed_at < b.changed_at; });
    if (all.size() > limit) all.resize(limit);
    return all;
}

std::int64_t PgStore::receipts_seen(UserId user, DeviceId device) {
    return on(user_shard(user), [&](Connection& c) {
        auto r = c.exec("SELECT receipts_seen_at FROM devices WHERE user_id=$1 AND device_id=$2", {Param::id(user), Param::id(device)});
        return r.empty() ? std::int64_t(0) : r.i64(0, 0);
    });
}

void PgStore::set_receipts_seen(UserId user, DeviceId device, std::int64_t at, std::function<void()> done) {
    post(id_string(user), [this, user, device, at, done = std::move(done)] {
        try {
            on(user_shard(user), [&](Connection& c) {
                c.exec("UPDATE devices SET receipts_seen_at=greatest(receipts_seen_at, $3) WHERE user_id=$1 AND device_id=$2",
                       {Param::id(user), Param::id(device), Param::i64(at)});
                return 0;
            });
        } catch (const Error& e) {
            // The next catch-up repeats what this one sent: receipts are idempotent.
            log_event(LogLevel::warn, "pg_store.receipts_seen_failed", {{"user", id_string(user)}, {"error", e.message}});
        }
        if (done) done();
    });
}

}  // namespace natter::pg
