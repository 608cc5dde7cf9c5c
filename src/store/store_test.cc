#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "store/migrations.h"
#include "store/sqlite_store.h"

namespace kumo::store {
namespace {

// Each test gets a fresh directory, removed afterwards.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kumo-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "kumo.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> OpenStore() {
    auto store = SqliteStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::unique_ptr<Store>(std::move(store.value())) : nullptr;
  }

  // A second connection, as another tool would open the file.
  sqlite3* RawOpen() {
    sqlite3* db = nullptr;
    EXPECT_EQ(
        sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
        SQLITE_OK);
    return db;
  }
  void RawExec(const char* sql) {
    sqlite3* db = RawOpen();
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  std::string FileBytes() {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
  std::string path_;
};

// Every field differs from its default, and strings hold awkward bytes.
ServerRecord SampleServer(const std::string& name) {
  ServerRecord s;
  s.name = name;
  s.image = "debian-12";
  s.vcpus = 4;
  s.memory_mib = 2048;
  s.disk_gib = 20;
  s.ssh_key = "ssh-ed25519 AAAA... ops@example";
  s.user_data = std::string("#cloud-config\n'quoted'; DROP TABLE servers;--\0tail", 48);
  s.power = Power::kRunning;
  s.agent = AgentState::kOk;
  s.task = Task::kStarting;
  s.task_started_ms = 1700000000123;
  s.task_deadline_ms = 1700000060123;
  s.task_force = true;
  s.boot_mode = BootMode::kRescue;
  s.ssh_port = 2201;
  s.status = ServerStatus::kPending;
  s.status_reason = "booting: waiting for the guest agent";
  s.agent_last_seen_ms = 1700000001000;
  s.qemu_pid = 4242;
  s.run_dir = "/run/kumo/" + name;
  s.created_ms = 1690000000000;
  s.updated_ms = 1700000000500;
  return s;
}

EventRecord Tombstone(const std::string& server) {
  EventRecord e;
  e.server = server;
  e.time_ms = 1700000200000;
  e.kind = "deleted";
  e.status = "deleted";
  e.message = "deleted";
  return e;
}

// Saves `server` and, when the store took it, moves it to the stored version
// (as the ledger does), so the next save is based on it.
Status Save(Store& store, ServerRecord& server, const std::optional<EventRecord>& event) {
  auto commit = store.SaveServer(server, event);
  if (!commit.ok()) return commit.status();
  server = commit->server;
  return Status::Ok();
}

EventRecord SampleEvent(const std::string& server, const std::string& message) {
  EventRecord e;
  e.id = 987654;  // ignored: the store assigns ids
  e.server = server;
  e.time_ms = 1700000000999;
  e.kind = "task";
  e.status = "pending";
  e.message = message;
  return e;
}

void ExpectSameServer(const ServerRecord& a, const ServerRecord& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.image, b.image);
  EXPECT_EQ(a.vcpus, b.vcpus);
  EXPECT_EQ(a.memory_mib, b.memory_mib);
  EXPECT_EQ(a.disk_gib, b.disk_gib);
  EXPECT_EQ(a.ssh_key, b.ssh_key);
  EXPECT_EQ(a.user_data, b.user_data);
  EXPECT_EQ(a.power, b.power);
  EXPECT_EQ(a.agent, b.agent);
  EXPECT_EQ(a.task, b.task);
  EXPECT_EQ(a.task_started_ms, b.task_started_ms);
  EXPECT_EQ(a.task_deadline_ms, b.task_deadline_ms);
  EXPECT_EQ(a.task_force, b.task_force);
  EXPECT_EQ(a.boot_mode, b.boot_mode);
  EXPECT_EQ(a.ssh_port, b.ssh_port);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.status_reason, b.status_reason);
  EXPECT_EQ(a.agent_last_seen_ms, b.agent_last_seen_ms);
  EXPECT_EQ(a.qemu_pid, b.qemu_pid);
  EXPECT_EQ(a.run_dir, b.run_dir);
  EXPECT_EQ(a.created_ms, b.created_ms);
  EXPECT_EQ(a.updated_ms, b.updated_ms);
}

void ExpectSameImage(const ImageRecord& a, const ImageRecord& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.kernel, b.kernel);
  EXPECT_EQ(a.initrd, b.initrd);
  EXPECT_EQ(a.disk, b.disk);
  EXPECT_EQ(a.cmdline, b.cmdline);
  EXPECT_EQ(a.kernel_release, b.kernel_release);
  EXPECT_EQ(a.registered_ms, b.registered_ms);
  EXPECT_EQ(a.firmware, b.firmware);
  EXPECT_EQ(a.login_user, b.login_user);
  EXPECT_EQ(a.agent_kind, b.agent_kind);
  EXPECT_EQ(a.os, b.os);
  EXPECT_EQ(a.virtual_size_bytes, b.virtual_size_bytes);
  EXPECT_EQ(a.format, b.format);
  EXPECT_EQ(a.imported, b.imported);
  EXPECT_EQ(a.user_data_support, b.user_data_support);
}

TEST_F(StoreTest, CreatesFileWithMode0600InWalMode) {
  mode_t old = umask(0);  // the store must not rely on the umask
  auto store = OpenStore();
  umask(old);
  ASSERT_TRUE(store);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(store->schema_version(), LatestVersion(KumoMigrations()));
  EXPECT_GE(store->schema_version(), 1);

  sqlite3* db = RawOpen();
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(StoreTest, TightensModeOfExistingFile) {
  { std::ofstream(path_).flush(); }
  ASSERT_EQ(chmod(path_.c_str(), 0644), 0);
  ASSERT_TRUE(OpenStore());
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(StoreTest, ServerRoundTripsEveryField) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ServerRecord web = SampleServer("web");
  auto created = store->CreateServer(web, SampleEvent("web", "created"));
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->server.version, 1);
  web.version = 1;

  auto got = store->GetServer("web");
  ASSERT_TRUE(got.has_value());
  ExpectSameServer(*got, web);
  EXPECT_EQ(got->version, 1);
  EXPECT_FALSE(store->GetServer("nope").has_value());

  ServerRecord changed = web;
  changed.image = "alpine";
  changed.vcpus = 1;
  changed.memory_mib = 512;
  changed.disk_gib = 2;
  changed.ssh_key = "";
  changed.user_data = "new";
  changed.power = Power::kOff;
  changed.agent = AgentState::kUnresponsive;
  changed.task = Task::kNone;
  changed.task_started_ms = 0;
  changed.task_deadline_ms = 0;
  changed.status = ServerStatus::kStopped;
  changed.status_reason = "stopped by the operator";
  changed.agent_last_seen_ms = 1700000099999;
  changed.qemu_pid = 0;
  changed.run_dir = "/run/kumo/elsewhere";
  changed.created_ms = 1;
  changed.updated_ms = 1700000100000;
  auto saved = store->SaveServer(changed, std::nullopt);
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(saved->server.version, 2);
  EXPECT_FALSE(saved->event.has_value());
  got = store->GetServer("web");
  ASSERT_TRUE(got.has_value());
  ExpectSameServer(*got, changed);
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(store->Events("web", 0, 1000).size(), 1u);  // no event given, none added
}

TEST_F(StoreTest, ListsServersByName) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->ListServers().empty());
  for (const char* name : {"mail", "db", "web"}) {
    ASSERT_TRUE(store->CreateServer(SampleServer(name), SampleEvent(name, "created")).ok());
  }
  auto servers = store->ListServers();
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers[0].name, "db");
  EXPECT_EQ(servers[1].name, "mail");
  EXPECT_EQ(servers[2].name, "web");
  ExpectSameServer(servers[2], SampleServer("web"));
}

TEST_F(StoreTest, DuplicateCreateIsAlreadyExistsAndChangesNothing) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ServerRecord web = SampleServer("web");
  ASSERT_TRUE(store->CreateServer(web, SampleEvent("web", "created")).ok());

  ServerRecord other = SampleServer("web");
  other.image = "other";
  other.vcpus = 8;
  Status s = store->CreateServer(other, SampleEvent("web", "second create")).status();
  EXPECT_EQ(s.code(), codes::kAlreadyExists) << s.ToString();

  ExpectSameServer(*store->GetServer("web"), web);
  auto events = store->Events("web", 0, 1000);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].message, "created");
}

TEST_F(StoreTest, SaveOfMissingServerIsNotFoundAndWritesNoEvent) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  Status s = store->SaveServer(SampleServer("ghost"), SampleEvent("ghost", "boo")).status();
  EXPECT_EQ(s.code(), codes::kNotFound) << s.ToString();
  EXPECT_FALSE(store->GetServer("ghost").has_value());
  EXPECT_TRUE(store->Events("ghost", 0, 1000).empty());
}

TEST_F(StoreTest, EventsAreOrderedAndPaged) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ServerRecord web = SampleServer("web");
  web = store->CreateServer(web, SampleEvent("web", "e0"))->server;
  ASSERT_TRUE(store->CreateServer(SampleServer("db"), SampleEvent("db", "db0")).ok());
  for (int i = 1; i < 5; ++i) {
    EventRecord e = SampleEvent("web", "e" + std::to_string(i));
    e.time_ms = 1000 + i;
    e.kind = "status";
    e.status = i % 2 ? "running" : "warning";
    ASSERT_TRUE(Save(*store, web, e).ok());
  }

  auto all = store->Events("web", 0, 1000);
  ASSERT_EQ(all.size(), 5u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].server, "web");
    EXPECT_EQ(all[i].message, "e" + std::to_string(i));
    EXPECT_NE(all[i].id, 987654);
    if (i > 0) {
      EXPECT_GT(all[i].id, all[i - 1].id);
    }
  }
  EXPECT_EQ(all[0].time_ms, 1700000000999);
  EXPECT_EQ(all[0].kind, "task");
  EXPECT_EQ(all[0].status, "pending");
  EXPECT_EQ(all[3].time_ms, 1003);
  EXPECT_EQ(all[3].kind, "status");
  EXPECT_EQ(all[3].status, "running");

  auto after = store->Events("web", all[1].id, 1000);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].message, "e2");
  auto limited = store->Events("web", all[1].id, 2);
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0].message, "e2");
  EXPECT_EQ(limited[1].message, "e3");
  EXPECT_TRUE(store->Events("web", all[4].id, 1000).empty());
  EXPECT_TRUE(store->Events("web", 0, 0).empty());

  // Paging back from the end: the newest first, each page oldest first.
  auto newest = store->EventsBefore("web", INT64_MAX, 2);
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].message, "e3");
  EXPECT_EQ(newest[1].message, "e4");
  auto older = store->EventsBefore("web", newest[0].id, 2);
  ASSERT_EQ(older.size(), 2u);
  EXPECT_EQ(older[0].message, "e1");
  EXPECT_EQ(older[1].message, "e2");
  auto oldest = store->EventsBefore("web", older[0].id, 2);
  ASSERT_EQ(oldest.size(), 1u);
  EXPECT_EQ(oldest[0].message, "e0") << "db's events are not web's";
  EXPECT_TRUE(store->EventsBefore("web", all[0].id, 10).empty());

  auto db_events = store->Events("db", 0, 1000);
  ASSERT_EQ(db_events.size(), 1u);
  EXPECT_EQ(db_events[0].message, "db0");
}

TEST_F(StoreTest, EventWithoutServerNameGoesToTheServerWritten) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ServerRecord web = store->CreateServer(SampleServer("web"), SampleEvent("", "created"))->server;
  ASSERT_EQ(store->Events("web", 0, 1000).size(), 1u);

  Status s = store->SaveServer(web, SampleEvent("db", "misfiled")).status();
  EXPECT_EQ(s.code(), codes::kInvalidArgument) << s.ToString();
  EXPECT_EQ(store->Events("web", 0, 1000).size(), 1u);
  EXPECT_TRUE(store->Events("db", 0, 1000).empty());
}

TEST_F(StoreTest, DeleteLeavesOnlyATombstone) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ServerRecord web =
      store->CreateServer(SampleServer("web"), SampleEvent("web", "created"))->server;
  ASSERT_TRUE(Save(*store, web, SampleEvent("web", "started")).ok());
  ASSERT_TRUE(store->CreateServer(SampleServer("db"), SampleEvent("db", "created")).ok());
  const int64_t before = store->LastEventId();

  auto tombstone = store->DeleteServer("web", Tombstone("web"));
  ASSERT_TRUE(tombstone.ok()) << tombstone.status().ToString();
  EXPECT_GT(tombstone->id, before);
  EXPECT_EQ(store->LastEventId(), tombstone->id);
  EXPECT_FALSE(store->GetServer("web").has_value());
  auto left = store->Events("web", 0, 100);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].kind, "deleted");
  EXPECT_EQ(store->Events("db", 0, 100).size(), 1u);
  // A watcher that resumes from before the delete hears of it.
  auto feed = store->Events("", before, 100);
  ASSERT_EQ(feed.size(), 1u);
  EXPECT_EQ(feed[0].server, "web");
  EXPECT_EQ(feed[0].status, "deleted");
  EXPECT_EQ(store->DeleteServer("web", Tombstone("web")).status().code(), codes::kNotFound);

  // A new server of the same name starts a fresh timeline.
  ASSERT_TRUE(store->CreateServer(SampleServer("web"), SampleEvent("web", "again")).ok());
  auto events = store->Events("web", 0, 100);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].message, "again");
}

TEST_F(StoreTest, AWriteBasedOnAStaleVersionIsRefused) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateServer(SampleServer("web"), SampleEvent("web", "created")).ok());
  // Two writers read the same version...
  ServerRecord first = *store->GetServer("web");
  ServerRecord second = *store->GetServer("web");
  ASSERT_EQ(first.version, second.version);
  // ...the first one's write lands...
  first.power = Power::kOff;
  first.status_reason = "stopped by writer one";
  ASSERT_TRUE(Save(*store, first, SampleEvent("web", "one")).ok());
  // ...and the second one's, based on what it read before, is refused.
  second.power = Power::kCrashed;
  second.status_reason = "crashed says writer two";
  auto refused = store->SaveServer(second, SampleEvent("web", "two"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), codes::kConflict) << refused.status().ToString();
  auto stored = store->GetServer("web");
  EXPECT_EQ(stored->power, Power::kOff);
  EXPECT_EQ(stored->status_reason, "stopped by writer one");
  EXPECT_EQ(stored->version, first.version);
  auto events = store->Events("web", 0, 100);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events.back().message, "one");
  // Read again, the second writer's change goes through.
  second = *stored;
  second.power = Power::kCrashed;
  EXPECT_TRUE(Save(*store, second, SampleEvent("web", "two")).ok());
  EXPECT_EQ(store->GetServer("web")->power, Power::kCrashed);
}

TEST_F(StoreTest, EventsOfEveryServerAfterAnIdAreOneFeed) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->LastEventId(), 0);
  ServerRecord web = store->CreateServer(SampleServer("web"), SampleEvent("web", "w0"))->server;
  ServerRecord db = store->CreateServer(SampleServer("db"), SampleEvent("db", "d0"))->server;
  ASSERT_TRUE(Save(*store, web, SampleEvent("web", "w1")).ok());
  ASSERT_TRUE(Save(*store, db, SampleEvent("db", "d1")).ok());
  auto all = store->Events("", 0, 100);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].message, "w0");
  EXPECT_EQ(all[1].message, "d0");
  EXPECT_EQ(all[2].message, "w1");
  EXPECT_EQ(all[3].message, "d1");
  EXPECT_EQ(store->LastEventId(), all[3].id);
  auto after = store->Events("", all[1].id, 1);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].message, "w1");
}

TEST_F(StoreTest, ServerAndEventAreWrittenTogether) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  // Make inserting one kind of event fail after the server row is written.
  RawExec(
      "CREATE TRIGGER fail_event BEFORE INSERT ON events WHEN NEW.kind = 'boom' "
      "BEGIN SELECT RAISE(ABORT, 'event refused'); END");

  EventRecord boom = SampleEvent("web", "created");
  boom.kind = "boom";
  Status s = store->CreateServer(SampleServer("web"), boom).status();
  EXPECT_EQ(s.code(), codes::kStoreError);
  EXPECT_NE(s.message().find("event refused"), std::string::npos) << s.message();
  EXPECT_FALSE(store->GetServer("web").has_value());
  EXPECT_TRUE(store->Events("web", 0, 1000).empty());

  ServerRecord web =
      store->CreateServer(SampleServer("web"), SampleEvent("web", "created"))->server;
  ServerRecord changed = web;
  changed.status = ServerStatus::kError;
  boom.message = "crashed";
  s = store->SaveServer(changed, boom).status();
  EXPECT_EQ(s.code(), codes::kStoreError);
  ExpectSameServer(*store->GetServer("web"), web);
  EXPECT_EQ(store->GetServer("web")->version, web.version);  // the rolled-back write
  EXPECT_EQ(store->Events("web", 0, 1000).size(), 1u);

  // The store is usable after a rolled-back write.
  ASSERT_TRUE(Save(*store, changed, SampleEvent("web", "crashed")).ok());
  EXPECT_EQ(store->GetServer("web")->status, ServerStatus::kError);
  EXPECT_EQ(store->Events("web", 0, 1000).size(), 2u);
}

TEST_F(StoreTest, ImagesPutReplaceAndList) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ImageRecord debian{"debian-12",
                     "/img/vmlinuz",
                     "/img/initrd",
                     "/img/base.qcow2",
                     "console=ttyS0 root=/dev/vda",
                     "6.1.0-18-amd64",
                     1700000000000};
  ImageRecord alpine{"alpine", "/a/k", "", "/a/d.qcow2", "console=ttyS0", "6.6.1", 5};
  ASSERT_TRUE(store->PutImage(debian).ok());
  ASSERT_TRUE(store->PutImage(alpine).ok());
  ExpectSameImage(*store->GetImage("debian-12"), debian);
  EXPECT_FALSE(store->GetImage("nope").has_value());

  ImageRecord newer = debian;
  newer.kernel = "/img2/vmlinuz";
  newer.initrd = "/img2/initrd";
  newer.disk = "/img2/base.qcow2";
  newer.cmdline = "console=ttyS0 quiet";
  newer.kernel_release = "6.1.0-20-amd64";
  newer.registered_ms = 1700000009999;
  ASSERT_TRUE(store->PutImage(newer).ok());

  auto images = store->ListImages();
  ASSERT_EQ(images.size(), 2u);
  ExpectSameImage(images[0], alpine);
  ExpectSameImage(images[1], newer);
}

TEST_F(StoreTest, ImageMetadataRoundTripsAndDeleteRemovesOnlyThatImage) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ImageRecord ubuntu{"ubuntu", "", "", "/s/images/ubuntu/disk.raw", "", "", 3};
  ubuntu.firmware = "uefi";
  ubuntu.login_user = "ubuntu";
  ubuntu.agent_kind = "qemu-ga";
  ubuntu.os = "Ubuntu 24.04";
  ubuntu.virtual_size_bytes = 3221225472;
  ubuntu.format = "raw";
  ubuntu.imported = true;
  ubuntu.user_data_support = "cloud-init";
  ImageRecord other{"other", "k", "i", "d", "c", "r", 4};
  ASSERT_TRUE(store->PutImage(ubuntu).ok());
  ASSERT_TRUE(store->PutImage(other).ok());
  ExpectSameImage(*store->GetImage("ubuntu"), ubuntu);

  ASSERT_TRUE(store->DeleteImage("ubuntu").ok());
  EXPECT_FALSE(store->GetImage("ubuntu").has_value());
  EXPECT_EQ(store->DeleteImage("ubuntu").code(), codes::kNotFound);
  ASSERT_EQ(store->ListImages().size(), 1u);
  ExpectSameImage(store->ListImages()[0], other);
}

TEST_F(StoreTest, UpgradesAVersion5DatabaseGivingItsImagesTheDefaults) {
  for (int i = 0; i < 5; ++i) RawExec(KumoMigrations()[i].sql);
  RawExec(
      "INSERT INTO images VALUES ('kumo-guest', '/g/vmlinuz', '/g/initrd.img', "
      "'/g/rootfs.qcow2', 'console=ttyS0', '6.1.0', 9);"
      "PRAGMA user_version = 5;");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), LatestVersion(KumoMigrations()));
  auto image = store->GetImage("kumo-guest");
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->disk, "/g/rootfs.qcow2");
  EXPECT_EQ(image->firmware, "bios");
  EXPECT_EQ(image->login_user, "root");
  EXPECT_EQ(image->agent_kind, "kumo-agent");
  EXPECT_EQ(image->os, "");
  EXPECT_EQ(image->virtual_size_bytes, 0);
  EXPECT_EQ(image->format, "qcow2");
  EXPECT_FALSE(image->imported);
  EXPECT_EQ(image->user_data_support, "kumo");
}

TEST_F(StoreTest, UpgradesAVersion6DatabaseTakingStockAgentImagesForCloudInit) {
  for (int i = 0; i < 6; ++i) RawExec(KumoMigrations()[i].sql);
  RawExec(
      "INSERT INTO images (name, kernel, initrd, disk, cmdline, kernel_release, registered_ms, "
      "agent_kind) VALUES ('kumo-guest', '/g/vmlinuz', '', '/g/rootfs.qcow2', '', '', 9, "
      "'kumo-agent'), ('debian', '', '', '/i/disk.qcow2', '', '', 9, 'qemu-ga');"
      "PRAGMA user_version = 6;");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetImage("kumo-guest")->user_data_support, "kumo");
  EXPECT_EQ(store->GetImage("debian")->user_data_support, "cloud-init");
}

TEST_F(StoreTest, Settings) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->GetSetting("heartbeat_ms").has_value());
  ASSERT_TRUE(store->PutSetting("heartbeat_ms", "1000").ok());
  ASSERT_TRUE(store->PutSetting("empty", "").ok());
  EXPECT_EQ(store->GetSetting("heartbeat_ms"), "1000");
  ASSERT_TRUE(store->PutSetting("heartbeat_ms", "2000").ok());
  EXPECT_EQ(store->GetSetting("heartbeat_ms"), "2000");
  EXPECT_EQ(store->GetSetting("empty"), "");
}

TEST_F(StoreTest, ReopeningKeepsEverything) {
  ServerRecord web = SampleServer("web");
  ImageRecord image{"debian-12", "k", "i", "d", "c", "r", 7};
  int version = 0;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    version = store->schema_version();
    web = store->CreateServer(web, SampleEvent("web", "created"))->server;
    ASSERT_TRUE(Save(*store, web, SampleEvent("web", "started")).ok());
    ASSERT_TRUE(store->PutImage(image).ok());
    ASSERT_TRUE(store->PutSetting("k", "v").ok());
  }
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schema_version(), version);
  ExpectSameServer(*store->GetServer("web"), web);
  auto events = store->Events("web", 0, 1000);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].message, "started");
  ExpectSameImage(*store->GetImage("debian-12"), image);
  EXPECT_EQ(store->GetSetting("k"), "v");

  // Ids keep increasing across reopening.
  ASSERT_TRUE(Save(*store, web, SampleEvent("web", "stopped")).ok());
  EXPECT_GT(store->Events("web", 0, 1000).back().id, events[1].id);
}

TEST_F(StoreTest, UpgradesAVersion1DatabaseKeepingItsServers) {
  // A database as the first release wrote it: schema 1, one server.
  RawExec(KumoMigrations()[0].sql);
  RawExec(
      "INSERT INTO servers VALUES ('old', 'kumo-guest', 1, 256, 1, '', '', 'running', 'ok', "
      "'stopping', 5, 9, 'pending', 'graceful stop requested', 4, 1234, '/run/old', 1, 2);"
      "PRAGMA user_version = 1;");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), LatestVersion(KumoMigrations()));
  auto old = store->GetServer("old");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->task, Task::kStopping);
  EXPECT_EQ(old->qemu_pid, 1234);
  EXPECT_FALSE(old->task_force);
  EXPECT_EQ(old->boot_mode, BootMode::kNormal);
  EXPECT_EQ(old->version, 1);
}

TEST_F(StoreTest, RefusesNewerSchemaAndLeavesFileAlone) {
  { ASSERT_TRUE(OpenStore()); }
  RawExec("PRAGMA user_version = 99");
  const std::string before = FileBytes();

  auto store = SqliteStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), codes::kStoreError);
  const std::string& message = store.status().message();
  EXPECT_NE(message.find("99"), std::string::npos) << message;
  EXPECT_NE(message.find("(" + std::to_string(LatestVersion(KumoMigrations())) + ")"),
            std::string::npos)
      << message;
  EXPECT_EQ(FileBytes(), before);
}

TEST_F(StoreTest, RefusesNewerSchemaWithoutSwitchingToWal) {
  // A rollback-journal database written by some future kumod.
  RawExec("PRAGMA user_version = 99; CREATE TABLE future (x);");
  const std::string before = FileBytes();
  ASSERT_GT(before.size(), 19u);
  ASSERT_EQ(before[18], 1);  // legacy journal, not WAL

  auto store = SqliteStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), codes::kStoreError);
  EXPECT_EQ(FileBytes(), before);
}

TEST_F(StoreTest, RefusesAFileThatIsNotADatabase) {
  { std::ofstream(path_) << "this is not an SQLite database, just some text that is long enough"; }
  auto store = SqliteStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), codes::kStoreError);
}

TEST_F(StoreTest, OpenFailsInAMissingDirectory) {
  auto store = SqliteStore::Open((dir_ / "missing" / "kumo.db").string());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), codes::kStoreError);
}

// Migration mechanics, with made-up steps on a raw connection.
class MigrationTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db_), SQLITE_OK);
  }
  void TearDown() override {
    sqlite3_close(db_);
    StoreTest::TearDown();
  }
  bool HasTable(const char* name) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1,
                       &stmt, nullptr);
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    bool found = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    return found;
  }
  int Version() { return *ReadSchemaVersion(db_); }

  sqlite3* db_ = nullptr;
};

TEST_F(MigrationTest, AppliesStepsInOrderOnce) {
  const Migration steps[] = {{1, "a", "CREATE TABLE a (x);"},
                             {2, "b", "CREATE TABLE b (x); INSERT INTO a VALUES (1);"}};
  ASSERT_TRUE(ApplyMigrations(db_, std::span(steps).first(1)).ok());
  EXPECT_EQ(Version(), 1);
  EXPECT_TRUE(HasTable("a"));
  EXPECT_FALSE(HasTable("b"));
  ASSERT_TRUE(ApplyMigrations(db_, steps).ok());
  EXPECT_EQ(Version(), 2);
  EXPECT_TRUE(HasTable("b"));
  ASSERT_TRUE(ApplyMigrations(db_, steps).ok());  // nothing left to do
  EXPECT_EQ(Version(), 2);
}

TEST_F(MigrationTest, FailingStepIsRolledBackAndStops) {
  const Migration steps[] = {{1, "a", "CREATE TABLE a (x);"},
                             {2, "broken", "CREATE TABLE b (x); CREATE TABLE a (x);"},
                             {3, "c", "CREATE TABLE c (x);"}};
  Status s = ApplyMigrations(db_, steps);
  EXPECT_EQ(s.code(), codes::kStoreError);
  EXPECT_NE(s.message().find("migration 2 (broken)"), std::string::npos) << s.message();
  EXPECT_EQ(Version(), 1);
  EXPECT_TRUE(HasTable("a"));
  EXPECT_FALSE(HasTable("b"));
  EXPECT_FALSE(HasTable("c"));
  EXPECT_TRUE(sqlite3_get_autocommit(db_));  // no transaction left open
}

TEST_F(MigrationTest, RejectsMisnumberedSteps) {
  const Migration steps[] = {{1, "a", "CREATE TABLE a (x);"}, {3, "c", "CREATE TABLE c (x);"}};
  EXPECT_EQ(ApplyMigrations(db_, steps).code(), codes::kInternal);
  EXPECT_FALSE(HasTable("a"));
}

TEST_F(MigrationTest, RefusesNewerDatabase) {
  ASSERT_EQ(sqlite3_exec(db_, "PRAGMA user_version = 3", nullptr, nullptr, nullptr), SQLITE_OK);
  const Migration steps[] = {{1, "a", "CREATE TABLE a (x);"}};
  Status s = CheckNotNewer(db_, steps);
  EXPECT_EQ(s.code(), codes::kStoreError);
  EXPECT_EQ(ApplyMigrations(db_, steps).code(), codes::kStoreError);
  EXPECT_FALSE(HasTable("a"));
  EXPECT_EQ(Version(), 3);
}

}  // namespace
}  // namespace kumo::store
