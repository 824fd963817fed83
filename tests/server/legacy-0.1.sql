BEGIN TRANSACTION;
CREATE TABLE channel_members(
    channel_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(channel_id, user_id));
INSERT INTO "channel_members" VALUES('private:alice:bob','bob');
INSERT INTO "channel_members" VALUES('private:alice:bob','alice');
CREATE TABLE channels(
    id TEXT PRIMARY KEY, type INTEGER NOT NULL, name TEXT, guild_id TEXT);
INSERT INTO "channels" VALUES('general',0,'General','lobby');
INSERT INTO "channels" VALUES('private:alice:bob',1,NULL,NULL);
CREATE TABLE events(
    sn INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, body TEXT NOT NULL);
INSERT INTO "events" VALUES(1,'general','{"type": "message-created", "timestamp": 1780000001000, "channel": {"id": "general", "type": 0}, "user": {"id": "alice", "name": "alice"}, "message": {"id": "1", "content": "hello from 0.1", "created_at": 1780000001000}, "guild": {"id": "lobby"}}');
INSERT INTO "events" VALUES(2,'general','{"type": "message-created", "timestamp": 1780000001000, "channel": {"id": "general", "type": 0}, "user": {"id": "bob", "name": "bob"}, "message": {"id": "2", "content": "hi alice", "created_at": 1780000001000}, "guild": {"id": "lobby"}}');
INSERT INTO "events" VALUES(3,'private:alice:bob','{"type": "message-created", "timestamp": 1780000001000, "channel": {"id": "private:alice:bob", "type": 1}, "user": {"id": "bob", "name": "bob"}, "message": {"id": "3", "content": "a secret", "created_at": 1780000001000}}');
CREATE TABLE messages(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, user_id TEXT NOT NULL,
    content TEXT NOT NULL, created_at REAL NOT NULL, nonce TEXT, UNIQUE(user_id, nonce));
INSERT INTO "messages" VALUES(1,'general','alice','hello from 0.1',1780000001.0,NULL);
INSERT INTO "messages" VALUES(2,'general','bob','hi alice',1780000001.0,'bob-n1');
INSERT INTO "messages" VALUES(3,'private:alice:bob','bob','a secret',1780000001.0,'bob-n2');
CREATE TABLE sessions(
    id TEXT PRIMARY KEY, token_hash TEXT UNIQUE NOT NULL, user_id TEXT NOT NULL,
    platform TEXT NOT NULL, device_id TEXT NOT NULL, device_name TEXT NOT NULL,
    created_at REAL NOT NULL, sig_expires_at INTEGER NOT NULL,
    state TEXT NOT NULL, ended_json TEXT);
INSERT INTO "sessions" VALUES('c9bfa77528ecde5b','ccc6eab6881302ddde9c4c8f564bc6b1a632a71edc1abd41788b1384e45bc492','alice','Linux','alice-box','Linux box',1780000000.0,1780086400,'active',NULL);
INSERT INTO "sessions" VALUES('7fafa024ef1386b6','b379e5a16e944d64239c8a0ac71038e29020ef7418db4d109f6525172a6d2750','bob','Web','bob-tab','Web box',1780000000.0,1780086400,'active',NULL);
INSERT INTO "sessions" VALUES('ab3ea1bbc3ef7638','8a74211c9e0b084ba295461eca505c385365b9a04ff86d9547f25858f80b3632','carol','Linux','carol-old','Linux box',1780000000.0,1780086400,'kicked','{"reason": "multi_device", "code": 6208, "message": "This account was logged in on another device.", "by": {"platform": "Windows", "device_name": "Windows box", "device_id": "carol-new"}, "at": 1780000001000}');
INSERT INTO "sessions" VALUES('24f1446af0068433','357ac61d4f1a25ee3094e2b7a11021bf5625650a541746c47892dce0dc878261','carol','Windows','carol-new','Windows box',1780000001.0,1780086401,'active',NULL);
CREATE TABLE settings(name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "settings" VALUES('login_policy','{"policy": "dual", "max_instances": {"Windows": 1, "Mac": 1, "Linux": 1, "Android": 1, "iPhone": 1, "iPad": 1, "Web": 2}}');
CREATE TABLE users(
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, sig_not_before INTEGER NOT NULL DEFAULT 0);
INSERT INTO "users" VALUES('alice',1780000000.0,0);
INSERT INTO "users" VALUES('bob',1780000000.0,0);
INSERT INTO "users" VALUES('carol',1780000000.0,0);
CREATE INDEX sessions_by_user ON sessions(user_id, state);
CREATE INDEX messages_by_channel ON messages(channel_id, seq);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('messages',3);
INSERT INTO "sqlite_sequence" VALUES('events',3);
COMMIT;
