// The SQLite store's shared write steps (append, fan-out, ack), groups and
// receipt watermarks.
#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "adapters/sqlite/sqlite_rows.hpp"
#include "adapters/sqlite/sqlite_store.hpp"
#include "adapters/sqlite/sqlite_store_templates.hpp"
#include "adapters/sqlite/sqlite_writes.hpp"
#include "core/conversation.hpp"

namespace natter::sqlite {

std::optional<Last> last_of(Db& db, const std::string& conversation_id) {
    auto c = db.prepare("SELECT last_seq, last_message_id FROM conversations WHERE conversation_id=?");
    c.bind(1, conversation_id);
    if (!c.step()) return std::nullopt;
    return Last{c.i64(0), c.u64(1)};
}

bool member_of(Db& db, const std::string& conversation_id, UserId user) {
    auto st = db.prepare("SELECT 1 FROM members WHERE conversation_id=? AND user_id=?");
    st.bind(1, conversation_id).bind(2, user);
    return st.step();
}

void append_message(Db& db, StoredMessage& m, const Last& last, std::uint64_t media_id) {
    m.seq = last.seq + 1;
    m.prev_message_id = last.message_id;
    auto ins = db.prepare(
        "INSERT INTO messages(message_id, conversation_id, seq, prev_message_id, kind, from_user, from_device, "
        "client_msg_id, to_json, body, attachment, event, ts, media_id) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, m.message_id).bind(2, m.conversation_id).bind(3, m.seq).bind(4, m.prev_message_id);
    ins.bind(5, std::string_view(kind_name(m.kind))).bind(6, m.from_user).bind(7, m.from_device);
    ins.bind(8, m.client_msg_id).bind(9, m.to_json);
    if (m.body.empty()) ins.bind_null(10); else ins.bind(10, m.body);
    if (m.attachment_json.empty()) ins.bind_null(11); else ins.bind(11, m.attachment_json);
    if (m.event_json.empty()) ins.bind_null(12); else ins.bind(12, m.event_json);
    ins.bind(13, m.ts);
    if (media_id) ins.bind(14, media_id); else ins.bind_null(14);
    ins.run();
    db.prepare("UPDATE conversations SET last_seq=?, last_message_id=? WHERE conversation_id=?")
        .bind(1, m.seq).bind(2, m.message_id).bind(3, m.conversation_id).run();
}

void fan_out(Db& db, const StoredMessage& m, DeviceId skip_device, std::vector<InboxTarget>& out) {
    // One read of every member's devices, recipients first; then one
    // cached insert per row, all in the send's transaction.
    std::vector<std::pair<UserId, DeviceId>> rows;
    {
        auto q = db.prepare(
            "SELECT mb.user_id, d.device_id FROM members mb JOIN devices d ON d.user_id=mb.user_id"
            " WHERE mb.conversation_id=? ORDER BY mb.user_id=?, mb.user_id, d.device_id");
        q.bind(1, m.conversation_id).bind(2, m.from_user);
        while (q.step()) rows.emplace_back(q.u64(0), q.u64(1));
    }
    out.reserve(out.size() + rows.size());
    for (const auto& [u, d] : rows) {
        if (u == m.from_user && d == skip_device) continue;
        InboxId prev = 0;
        {
            auto q = db.prepare("SELECT max(inbox_id) FROM inbox WHERE user_id=? AND device_id=?");
            q.bind(1, u).bind(2, d);
            if (q.step() && !q.is_null(0)) prev = q.u64(0);
        }
        db.prepare("INSERT INTO inbox(user_id, device_id, message_id, created_at) VALUES(?,?,?,?)")
            .bind(1, u).bind(2, d).bind(3, m.message_id).bind(4, m.ts).run();
        out.push_back(InboxTarget{u, d, db.last_insert_rowid(), prev});
    }
}

namespace {

// The members other than `by` who sent messages with from < seq <= to
// (someone removed from a group is not told who reads it any more).
std::vector<UserId> senders_between(Db& db, const std::string& conversation_id, std::int64_t from, std::int64_t to,
                                    UserId by) {
    std::vector<UserId> out;
    auto st = db.prepare(
        "SELECT DISTINCT from_user FROM messages WHERE conversation_id=? AND seq>? AND seq<=? AND from_user<>?"
        " AND kind<>'system' AND from_user IN (SELECT user_id FROM members WHERE conversation_id=?1)");
    st.bind(1, conversation_id).bind(2, from).bind(3, to).bind(4, by);
    while (st.step()) out.push_back(st.u64(0));
    return out;
}

struct Watermarks {
    std::int64_t delivered = 0, read = 0;
    // A member has nothing before it joined: a move is news only from there.
    std::int64_t before_join = 0;  // joined_seq - 1
};

std::optional<Watermarks> watermarks_of(Db& db, const std::string& conversation_id, UserId user) {
    auto st = db.prepare("SELECT delivered_seq, read_seq, joined_seq FROM members WHERE conversation_id=? AND user_id=?");
    st.bind(1, conversation_id).bind(2, user);
    if (!st.step()) return std::nullopt;
    return Watermarks{st.i64(0), st.i64(1), std::max<std::int64_t>(0, st.i64(2) - 1)};
}

std::optional<Membership> membership_in(Db& db, const std::string& conversation_id, UserId user) {
    auto st = db.prepare("SELECT role, joined_seq FROM members WHERE conversation_id=? AND user_id=?");
    st.bind(1, conversation_id).bind(2, user);
    if (!st.step()) return std::nullopt;
    return Membership{st.text(0) == "admin", st.i64(1)};
}

bool user_exists(Db& db, UserId user) {
    auto st = db.prepare("SELECT 1 FROM users WHERE user_id=?");
    st.bind(1, user);
    return st.step();
}

std::int64_t member_count(Db& db, const std::string& conversation_id) {
    auto st = db.prepare("SELECT count(*) FROM members WHERE conversation_id=?");
    st.bind(1, conversation_id);
    st.step();
    return st.i64(0);
}

void add_member(Db& db, const std::string& conversation_id, UserId user, bool admin, std::int64_t joined_seq) {
    // Watermarks start at 0 (nothing delivered or read); unread and
    // receipts count from joined_seq.
    db.prepare("INSERT INTO members(conversation_id, user_id, role, joined_seq) VALUES(?,?,?,?)")
        .bind(1, conversation_id).bind(2, user).bind(3, std::string_view(admin ? "admin" : "member"))
        .bind(4, joined_seq).run();
}

std::string too_many(std::size_t max) {
    return "a group has at most " + std::to_string(max) + " members";
}

}  // namespace

AckOutcome ack_in(Db& db, UserId user, DeviceId device, const std::vector<MessageId>& ids, std::int64_t now) {
    AckOutcome out;
    if (ids.empty()) return out;
    // Two statements per ack, whatever its size: the delete says which rows
    // were there, one grouped read what they move.
    nlohmann::json list = nlohmann::json::array();
    for (MessageId id : ids) list.push_back(std::int64_t(id));
    nlohmann::json removed = nlohmann::json::array();
    {
        auto del = db.prepare(
            "DELETE FROM inbox WHERE user_id=? AND device_id=? AND message_id IN (SELECT value FROM json_each(?))"
            " RETURNING message_id");
        del.bind(1, user).bind(2, device).bind(3, list.dump());
        while (del.step()) removed.push_back(del.i64(0));
    }
    out.removed = removed.size();
    if (removed.empty()) return out;
    std::map<std::string, std::int64_t> newest;  // conversation -> highest seq acked from others
    {
        auto st = db.prepare(
            "SELECT conversation_id, max(seq) FROM messages WHERE message_id IN (SELECT value FROM json_each(?))"
            " AND from_user<>? GROUP BY conversation_id");
        st.bind(1, removed.dump()).bind(2, user);
        while (st.step()) newest[st.text(0)] = st.i64(1);
    }
    // A device gets its inbox in order, so acking seq N means it has
    // everything of that conversation up to N.
    for (const auto& [conversation_id, seq] : newest) {
        auto marks = watermarks_of(db, conversation_id, user);
        if (!marks || seq <= marks->delivered) continue;
        db.prepare("UPDATE members SET delivered_seq=?, receipt_at=? WHERE conversation_id=? AND user_id=?")
            .bind(1, seq).bind(2, now).bind(3, conversation_id).bind(4, user).run();
        out.receipts.push_back(ReceiptChange{
            conversation_id, user, false, seq,
            senders_between(db, conversation_id, std::max(marks->delivered, marks->before_join), seq, user)});
    }
    return out;
}

Result<SendOutcome> group_change_in(Db& db, const GroupChange& c) {
    const std::string conversation_id = group_conversation(c.group_id).str();
    GroupEvent ev;
    ev.by = c.actor;
    std::optional<Last> last;
    if (c.kind == GroupChange::Kind::create) {
        for (UserId u : c.members)
            if (!user_exists(db, u)) return err(Code::not_found, "no such user: " + id_string(u));
        if (1 + c.members.size() > c.max_members) return err(Code::conflict, too_many(c.max_members));
        db.prepare("INSERT INTO groups(group_id, name, created_by, created_at) VALUES(?,?,?,?)")
            .bind(1, c.group_id).bind(2, c.name).bind(3, c.actor).bind(4, c.ts).run();
        db.prepare("INSERT INTO conversations(conversation_id, last_seq, last_message_id, created_at) VALUES(?,0,0,?)")
            .bind(1, conversation_id).bind(2, c.ts).run();
        add_member(db, conversation_id, c.actor, true, 1);
        for (UserId u : c.members) add_member(db, conversation_id, u, false, 1);
        ev.type = GroupEvent::Type::created;
        ev.name = c.name;
        ev.members.push_back(c.actor);
        ev.members.insert(ev.members.end(), c.members.begin(), c.members.end());
        last = Last{};
    } else {
        last = last_of(db, conversation_id);
        if (!last) return err(Code::not_found, "no such group");
        auto actor = membership_in(db, conversation_id, c.actor);
        if (!actor) return err(Code::forbidden, "not a member of this group");
        if (c.kind == GroupChange::Kind::add) {
            if (!actor->admin) return err(Code::forbidden, "only admins can add members");
            if (!user_exists(db, c.user)) return err(Code::not_found, "no such user");
            if (member_of(db, conversation_id, c.user)) return err(Code::conflict, "already a member of this group");
            if (std::size_t(member_count(db, conversation_id)) >= c.max_members)
                return err(Code::conflict, too_many(c.max_members));
            ev.type = GroupEvent::Type::added;
            ev.user = c.user;
        } else {
            bool leaving = c.user == c.actor;
            if (!leaving && !actor->admin) return err(Code::forbidden, "only admins can remove other members");
            auto target = leaving ? actor : membership_in(db, conversation_id, c.user);
            if (!target) return err(Code::not_found, "not a member of this group");
            ev.type = leaving ? GroupEvent::Type::left : GroupEvent::Type::removed;
            ev.user = c.user;
            if (leaving) ev.by = 0;
            if (target->admin) {
                // The last admin going hands the group to its longest-standing member.
                auto admins = db.prepare("SELECT count(*) FROM members WHERE conversation_id=? AND role='admin'");
                admins.bind(1, conversation_id);
                admins.step();
                if (admins.i64(0) == 1) {
                    auto next = db.prepare(
                        "SELECT user_id FROM members WHERE conversation_id=? AND user_id<>?"
                        " ORDER BY joined_seq, user_id LIMIT 1");
                    next.bind(1, conversation_id).bind(2, c.user);
                    if (next.step()) ev.new_admin = next.u64(0);
                }
            }
        }
    }
    SendOutcome out;
    StoredMessage& m = out.message;
    m.message_id = c.new_message_id;
    m.client_msg_id = c.client_msg_id;
    m.conversation_id = conversation_id;
    m.kind = MessageKind::system;
    m.from_user = c.actor;
    m.from_device = c.actor_device;
    m.to_json = nlohmann::json{{"group", id_string(c.group_id)}}.dump();
    m.event_json = group_event_json(ev);
    m.ts = c.ts;
    append_message(db, m, *last);
    if (c.kind == GroupChange::Kind::add) add_member(db, conversation_id, c.user, false, m.seq);
    // Every member's devices get the change, the acting device too (it made
    // an HTTP call, not a send); a removed member's last message is this one.
    fan_out(db, m, 0, out.targets);
    if (c.kind == GroupChange::Kind::remove) {
        db.prepare("DELETE FROM members WHERE conversation_id=? AND user_id=?").bind(1, conversation_id).bind(2, c.user).run();
        if (ev.new_admin)
            db.prepare("UPDATE members SET role='admin' WHERE conversation_id=? AND user_id=?")
                .bind(1, conversation_id).bind(2, ev.new_admin).run();
    }
    return out;
}

// ---- GroupStore

void SqliteStore::change_group(GroupChange change, std::function<void(Result<SendOutcome>)> done) {
    {
        std::lock_guard lock(queue_mu_);
        if (queue_.size() >= config_.max_queue) return done(err(Code::unavailable, "the store is overloaded; retry"));
    }
    auto result = std::make_shared<Result<SendOutcome>>(err(Code::unavailable, "the store could not change the group"));
    auto request = std::make_shared<GroupChange>(std::move(change));
    enqueue(Job{[result, request](Db& db) {
                    *result = group_change_in(db, *request);
                    return result->ok();
                },
                [result, done = std::move(done)](bool committed) {
                    if (!committed) *result = err(Code::unavailable, "the store could not commit the change");
                    done(std::move(*result));
                }});
}

std::optional<GroupRecord> SqliteStore::group(std::uint64_t group_id) {
    return read([&](Db& db) -> std::optional<GroupRecord> {
        GroupRecord g;
        {
            auto st = db.prepare("SELECT name, created_at FROM groups WHERE group_id=?");
            st.bind(1, group_id);
            if (!st.step()) return std::nullopt;
            g.group_id = group_id;
            g.name = st.text(0);
            g.created_at = st.i64(1);
        }
        auto st = db.prepare(
            "SELECT user_id, role, joined_seq FROM members WHERE conversation_id=? ORDER BY joined_seq, user_id");
        st.bind(1, group_conversation(group_id).str());
        while (st.step()) g.members.push_back(GroupMember{st.u64(0), st.text(1) == "admin", st.i64(2)});
        return g;
    });
}

std::optional<Membership> SqliteStore::membership(const std::string& conversation_id, UserId user) {
    return read([&](Db& db) { return membership_in(db, conversation_id, user); });
}

std::vector<UserId> SqliteStore::members(const std::string& conversation_id) {
    return read([&](Db& db) {
        std::vector<UserId> out;
        auto st = db.prepare("SELECT user_id FROM members WHERE conversation_id=? ORDER BY user_id");
        st.bind(1, conversation_id);
        while (st.step()) out.push_back(st.u64(0));
        return out;
    });
}

std::vector<UserId> SqliteStore::contacts_among(UserId user, const std::vector<UserId>& others) {
    if (others.empty()) return {};
    nlohmann::json list = nlohmann::json::array();
    for (UserId u : others) list.push_back(std::int64_t(u));
    return read([&](Db& db) {
        std::vector<UserId> out;
        auto st = db.prepare(
            "SELECT DISTINCT m2.user_id FROM members m1 JOIN members m2 ON m2.conversation_id=m1.conversation_id"
            " WHERE m1.user_id=? AND m2.user_id IN (SELECT value FROM json_each(?))");
        st.bind(1, user).bind(2, list.dump());
        while (st.step()) out.push_back(st.u64(0));
        return out;
    });
}

// ---- ReceiptStore

void SqliteStore::mark_read(UserId user, const std::string& conversation_id, std::int64_t up_to_seq, std::int64_t now,
                            std::function<void(Result<std::vector<ReceiptChange>>)> done) {
    using Changes = Result<std::vector<ReceiptChange>>;
    auto result = std::make_shared<Changes>(err(Code::unavailable, "the store could not record the receipt"));
    enqueue(Job{[=](Db& db) {
                    auto last = last_of(db, conversation_id);
                    if (!last) {
                        *result = err(Code::not_found, "no such conversation (a 1:1 chat exists from its first message)");
                        return false;
                    }
                    auto marks = watermarks_of(db, conversation_id, user);
                    if (!marks) {
                        *result = err(Code::forbidden, conversation_id[0] == 'g' ? "not a member of this group"
                                                                                 : "not a participant of this conversation");
                        return false;
                    }
                    if (up_to_seq > last->seq) {
                        *result = err(Code::invalid, "up_to_seq is past the conversation's last message (" +
                                                         std::to_string(last->seq) + ")");
                        return false;
                    }
                    std::vector<ReceiptChange> changes;
                    // Reading what came before one joined says nothing.
                    if (up_to_seq > marks->read && up_to_seq > marks->before_join) {
                        // Seen implies delivered.
                        auto delivered = std::max(marks->delivered, up_to_seq);
                        db.prepare("UPDATE members SET read_seq=?, delivered_seq=?, receipt_at=? "
                                   "WHERE conversation_id=? AND user_id=?")
                            .bind(1, up_to_seq).bind(2, delivered).bind(3, now).bind(4, conversation_id).bind(5, user).run();
                        if (delivered > marks->delivered)
                            changes.push_back(ReceiptChange{
                                conversation_id, user, false, delivered,
                                senders_between(db, conversation_id, std::max(marks->delivered, marks->before_join),
                                                delivered, user)});
                        auto notify = senders_between(db, conversation_id, std::max(marks->read, marks->before_join),
                                                      up_to_seq, user);
                        notify.push_back(user);  // the reader's other devices
                        changes.push_back(ReceiptChange{conversation_id, user, true, up_to_seq, std::move(notify)});
                    }
                    *result = std::move(changes);
                    return true;
                },
                [result, done = std::move(done)](bool committed) {
                    if (!committed && result->ok()) *result = err(Code::unavailable, "the store could not commit the receipt");
                    done(std::move(*result));
                }});
}

namespace {
constexpr const char* kReceiptColumns =
    "m2.conversation_id, m2.user_id, m2.delivered_seq, m2.read_seq, m2.receipt_at, m2.joined_seq";
MemberReceipt receipt_from(const Stmt& st) {
    return MemberReceipt{st.text(0), st.u64(1), st.i64(2), st.i64(3), st.i64(4), st.i64(5)};
}
}  // namespace

std::vector<MemberReceipt> SqliteStore::receipts(const std::string& conversation_id) {
    static const std::string sql =
        std::string("SELECT ") + kReceiptColumns + " FROM members m2 WHERE m2.conversation_id=? ORDER BY m2.user_id";
    return read([&](Db& db) {
        std::vector<MemberReceipt> out;
        auto st = db.prepare(sql.c_str());
        st.bind(1, conversation_id);
        while (st.step()) out.push_back(receipt_from(st));
        return out;
    });
}

std::vector<MemberReceipt> SqliteStore::receipts_since(UserId user, std::int64_t since, std::size_t limit) {
    static const std::string sql = std::string("SELECT ") + kReceiptColumns +
                                   " FROM members m1 JOIN members m2 ON m2.conversation_id=m1.conversation_id"
                                   " WHERE m1.user_id=? AND m2.receipt_at>?"
                                   // The user's own row, or another member's that covers a message the
                                   // user sent since that member joined (exact unless the user's messages
                                   // straddle that span with none inside it: then a true, unneeded frame).
                                   " AND (m2.user_id=m1.user_id OR"
                                   "  (m1.first_sent_seq>0 AND m2.delivered_seq>=m1.first_sent_seq"
                                   "   AND m1.last_sent_seq>=m2.joined_seq))"
                                   " ORDER BY m2.receipt_at LIMIT ?";
    return read([&](Db& db) {
        std::vector<MemberReceipt> out;
        auto st = db.prepare(sql.c_str());
        st.bind(1, user).bind(2, since).bind(3, std::int64_t(limit));
        while (st.step()) out.push_back(receipt_from(st));
        return out;
    });
}

std::int64_t SqliteStore::receipts_seen(UserId user, DeviceId device) {
    return read([&](Db& db) {
        auto st = db.prepare("SELECT receipts_seen_at FROM devices WHERE user_id=? AND device_id=?");
        st.bind(1, user).bind(2, device);
        return st.step() ? st.i64(0) : std::int64_t(0);
    });
}

void SqliteStore::set_receipts_seen(UserId user, DeviceId device, std::int64_t at, std::function<void()> done) {
    enqueue(Job{[=](Db& db) {
                    db.prepare("UPDATE devices SET receipts_seen_at=max(receipts_seen_at, ?) WHERE user_id=? AND device_id=?")
                        .bind(1, at).bind(2, user).bind(3, device).run();
                    return true;
                },
                [done = std::move(done)](bool) {
                    if (done) done();
                }});
}

}  // namespace natter::sqlite
