#include "metrics/byte_accounting.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <span>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "metrics/log.hpp"
#include "metrics/reader_pacing.hpp"

namespace sockgate::metrics {

namespace {

// Minimum time between two log lines about lost destroy messages; the error counter still
// counts every overrun.
constexpr std::chrono::seconds kOverrunLogInterval{10};
// epoll data of the eventfd that stops the reader; sources count from 1.
constexpr std::uint64_t kWakeId = 0;

struct Entry {
  std::uint64_t source_id = 0;
  std::shared_ptr<TrafficCells> cells;
  bool active_open = true;
  // Order in which track() added the entry; a reconciling dump judges only older entries.
  std::uint64_t serial = 0;
  // Latest payload counts of this socket, already part of cells->open_sent/open_received.
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
};

using Entries = std::unordered_map<std::uint64_t, Entry>;

// A tracked listening socket. The sockets it accepts share its local port, and its address
// unless it is bound to the wildcard. When the kernel picks an ephemeral port for a connect, it
// skips ports that bind() holds (__inet_hash_connect in net/ipv4/inet_hashtables.c), so other
// sockets of the namespace rarely share it.
struct Listener {
  std::uint64_t source_id = 0;
  std::uint64_t cookie = 0;
  LocalAddress local;
  std::shared_ptr<TrafficCells> cells;
};

}  // namespace

struct AccountingState {
  ByteAccounting::ErrorCounter count_error;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};

  // Serializes the dumps, which share each source's query socket. Taken before `destroy_mutex`.
  std::mutex dump_mutex;
  // Serializes reading and applying destroy messages, by the reader thread and by refresh().
  // Taken before `mutex`.
  std::mutex destroy_mutex;
  mutable std::mutex mutex;
  std::unordered_map<std::uint64_t, std::shared_ptr<SockDiagSource>> sources;
  Entries entries;
  std::vector<Listener> listeners;
  // While a dump runs, the cookies that destroy messages closed meanwhile: the dump may still
  // list them, and must not adopt them again.
  bool dump_running = false;
  std::unordered_set<std::uint64_t> closed_during_dump;
  std::uint64_t next_source_id = 1;
  std::uint64_t next_serial = 1;
  std::chrono::steady_clock::time_point last_overrun_log{};
  std::uint64_t overruns_not_logged = 0;
  std::atomic<std::uint64_t> reader_wakeups{0};

  ~AccountingState() {
    if (epoll_fd >= 0) {
      close(epoll_fd);
    }
    if (wake_fd >= 0) {
      close(wake_fd);
    }
  }
};

namespace {

void publish(TrafficCells& cells) {
  const std::uint64_t sent = cells.closed_sent + cells.open_sent;
  const std::uint64_t received = cells.closed_received + cells.open_received;
  cells.sent.store(std::max(sent, cells.sent.load(std::memory_order_relaxed)),
                   std::memory_order_relaxed);
  cells.received.store(std::max(received, cells.received.load(std::memory_order_relaxed)),
                       std::memory_order_relaxed);
}

// Raises the entry's counts to `counters`; kernel counters only grow, and a count that went
// down (a capped FIN, a reordered message) is ignored.
void update_entry(Entry& entry, const TcpCounters& counters) {
  TrafficCells& cells = *entry.cells;
  const std::uint64_t sent = std::max(entry.sent, payload_sent(counters, entry.active_open));
  const std::uint64_t received = std::max(entry.received, payload_received(counters));
  cells.open_sent += sent - entry.sent;
  cells.open_received += received - entry.received;
  entry.sent = sent;
  entry.received = received;
  publish(cells);
}

// Moves a socket's counts from open to closed, after applying its final counters if known.
Entries::iterator finalize_entry(Entries& entries, Entries::iterator it,
                                 const TcpCounters* final_counters) {
  Entry& entry = it->second;
  if (final_counters != nullptr) {
    update_entry(entry, *final_counters);
  }
  TrafficCells& cells = *entry.cells;
  cells.open_sent -= entry.sent;
  cells.open_received -= entry.received;
  cells.closed_sent += entry.sent;
  cells.closed_received += entry.received;
  cells.open_sockets.fetch_sub(1, std::memory_order_relaxed);
  publish(cells);
  return entries.erase(it);
}

// The tracked listener that accepted the socket of `record`, or nullptr.
const Listener* find_listener(const AccountingState& state, std::uint64_t source_id,
                              const SocketRecord& record) {
  for (const Listener& listener : state.listeners) {
    const LocalAddress& local = listener.local;
    const bool same_address = local.is_wildcard() || local.address == record.local.address;
    if (listener.source_id == source_id && listener.cookie != record.cookie &&
        local.family == record.local.family && local.port == record.local.port && same_address &&
        !listener.cells->retired.load(std::memory_order_relaxed)) {
      return &listener;
    }
  }
  return nullptr;
}

// Starts tracking a socket that a tracked listener accepted.
Entries::iterator adopt_accepted(AccountingState& state, std::uint64_t source_id,
                                 std::uint64_t cookie, const Listener& listener) {
  Entry entry{source_id, listener.cells, false, state.next_serial++, 0, 0};
  listener.cells->open_sockets.fetch_add(1, std::memory_order_relaxed);
  return state.entries.emplace(cookie, std::move(entry)).first;
}

bool is_listener(const AccountingState& state, std::uint64_t source_id, std::uint64_t cookie) {
  return std::any_of(state.listeners.begin(), state.listeners.end(), [&](const Listener& entry) {
    return entry.source_id == source_id && entry.cookie == cookie;
  });
}

// Applies destroy messages of one source. Appends the cookies of tracked listeners that closed
// to `closed_listeners`.
void apply_destroyed(AccountingState& state, std::uint64_t source_id,
                     const std::vector<SocketRecord>& records,
                     std::vector<std::uint64_t>& closed_listeners) {
  for (const SocketRecord& record : records) {
    auto it = state.entries.find(record.cookie);
    if (it == state.entries.end() && is_listener(state, source_id, record.cookie)) {
      closed_listeners.push_back(record.cookie);
      continue;
    }
    if (it == state.entries.end()) {
      const Listener* listener = find_listener(state, source_id, record);
      if (listener == nullptr) {
        continue;
      }
      it = adopt_accepted(state, source_id, record.cookie, *listener);
    }
    finalize_entry(state.entries, it, &record.counters);
    if (state.dump_running) {
      state.closed_during_dump.insert(record.cookie);
    }
  }
}

void start_dump(AccountingState& state) {
  const std::lock_guard lock(state.mutex);
  state.dump_running = true;
  state.closed_during_dump.clear();
}

// Applies a dump of one source. With a reconcile serial, tracked sockets missing from the dump
// are taken as closed with the counts read so far, because their destroy messages were lost.
// Only entries older than the serial are judged, because the dump may predate the others.
void apply_dump(AccountingState& state, std::uint64_t source_id,
                const std::vector<SocketRecord>& records, std::uint64_t reconcile_serial = 0) {
  std::unordered_set<std::uint64_t> seen;
  for (const SocketRecord& record : records) {
    auto it = state.entries.find(record.cookie);
    if (it == state.entries.end()) {
      const Listener* listener = find_listener(state, source_id, record);
      if (listener == nullptr || state.closed_during_dump.contains(record.cookie)) {
        continue;
      }
      it = adopt_accepted(state, source_id, record.cookie, *listener);
    }
    if (it->second.source_id == source_id) {
      update_entry(it->second, record.counters);
      seen.insert(record.cookie);
    }
  }
  state.dump_running = false;
  state.closed_during_dump.clear();
  if (reconcile_serial == 0) {
    return;
  }
  for (auto it = state.entries.begin(); it != state.entries.end();) {
    const Entry& entry = it->second;
    const bool missing = entry.source_id == source_id && entry.serial < reconcile_serial &&
                         !seen.contains(it->first);
    it = missing ? finalize_entry(state.entries, it, nullptr) : std::next(it);
  }
}

// Dumps both address families; IPv6 sockets with IPv4-mapped addresses are in the AF_INET6
// dump. Returns 0 or the first negative errno, with the records of the dumps that worked.
int dump_source(SockDiagSource& source, std::vector<SocketRecord>& records) {
  const int v4 = source.dump(AF_INET, records);
  const int v6 = source.dump(AF_INET6, records);
  return v4 < 0 ? v4 : v6;
}

void report_dump_failure(AccountingState& state, std::uint64_t source_id, int error) {
  state.count_error(ErrorKind::sock_diag, 1);
  log().warn(
      "reading TCP socket counters of sock_diag source {} failed: {}; byte counts of its "
      "open sockets stay at their last values until a later scrape succeeds",
      source_id, std::strerror(-error));
}

void erase_listeners(AccountingState& state, std::uint64_t source_id,
                     const std::vector<std::uint64_t>& cookies) {
  std::erase_if(state.listeners, [&](const Listener& listener) {
    return listener.source_id == source_id &&
           std::find(cookies.begin(), cookies.end(), listener.cookie) != cookies.end();
  });
}

// Dumps a source and applies the dump. The caller holds dump_mutex. With `reconcile`, tracked
// sockets missing from the dump are taken as closed. The dump also adopts the open sockets that
// the listeners in `closed_listeners` accepted, which stop being tracked afterwards.
void dump_and_apply(AccountingState& state, std::uint64_t source_id, SockDiagSource& source,
                    bool reconcile, const std::vector<std::uint64_t>& closed_listeners) {
  std::uint64_t serial = 0;
  {
    const std::lock_guard lock(state.mutex);
    serial = reconcile ? state.next_serial : 0;
  }
  start_dump(state);
  std::vector<SocketRecord> records;
  const int error = dump_source(source, records);
  if (error < 0) {
    report_dump_failure(state, source_id, error);
  }
  const std::lock_guard lock(state.mutex);
  // A failed dump may lack open sockets, so it reconciles nothing.
  apply_dump(state, source_id, records, error == 0 ? serial : 0);
  erase_listeners(state, source_id, closed_listeners);
}

void report_overrun(AccountingState& state, std::uint64_t source_id, int buffer_bytes) {
  state.count_error(ErrorKind::sock_diag_overrun, 1);
  const auto now = std::chrono::steady_clock::now();
  ++state.overruns_not_logged;
  if (now - state.last_overrun_log < kOverrunLogInterval) {
    return;
  }
  log().warn(
      "{} sock_diag destroy overruns (source {}, receive buffer {} bytes): final byte "
      "counts of TCP sockets that closed meanwhile were lost and are counted as last read; "
      "raise net.core.rmem_max to enlarge the buffer",
      state.overruns_not_logged, source_id, buffer_bytes);
  state.overruns_not_logged = 0;
  state.last_overrun_log = now;
}

// What reading the queued destroy messages of one source found.
struct DrainResult {
  // Messages were lost, so a dump must reconcile the tracked sockets.
  bool overrun = false;
  // Tracked listeners that closed. A dump must adopt the open sockets they accepted.
  std::vector<std::uint64_t> closed_listeners;
  // The receive queue before the read.
  DestroyQueueUse queue;

  bool needs_dump() const { return overrun || !closed_listeners.empty(); }
};

// Reads the queued destroy messages of one source and applies them. Holds destroy_mutex until
// they are applied, so that a refresh that reads after this one also sees their counts.
DrainResult drain_source(AccountingState& state, std::uint64_t source_id, SockDiagSource& source) {
  DrainResult result;
  std::vector<SocketRecord> records;
  std::uint64_t malformed = 0;
  int status = 0;
  {
    const std::lock_guard read_lock(state.destroy_mutex);
    result.queue = source.destroy_queue_use();
    // After an overrun the kernel reports no further loss until the queue was read empty, so
    // drain it before the reconciling dump: a loss after that is reported again.
    do {
      status = source.read_destroyed(records, malformed);
      result.overrun = result.overrun || status == -ENOBUFS;
    } while (status == -ENOBUFS);

    const std::lock_guard lock(state.mutex);
    apply_destroyed(state, source_id, records, result.closed_listeners);
    if (result.overrun) {
      report_overrun(state, source_id, source.destroy_buffer_bytes());
    }
  }
  if (malformed > 0) {
    state.count_error(ErrorKind::sock_diag, malformed);
  }
  if (status < 0) {
    state.count_error(ErrorKind::sock_diag, 1);
    log().warn("reading sock_diag destroy messages of source {} failed: {}", source_id,
               std::strerror(-status));
  }
  return result;
}

std::shared_ptr<SockDiagSource> find_source(AccountingState& state, std::uint64_t source_id) {
  const std::lock_guard lock(state.mutex);
  const auto found = state.sources.find(source_id);
  return found == state.sources.end() ? nullptr : found->second;
}

// Drains the sources that epoll reported ready, on the reader thread, and dumps a source at once
// when its messages show an overrun or a closed listener. Returns the pause before the next read.
std::chrono::microseconds drain_ready_sources(AccountingState& state,
                                              std::span<const epoll_event> ready,
                                              ReaderPacing& pacing) {
  DestroyQueueUse fullest;
  bool overrun = false;
  for (const epoll_event& event : ready) {
    const auto source = event.data.u64 == kWakeId ? nullptr : find_source(state, event.data.u64);
    if (source == nullptr) {
      continue;
    }
    const DrainResult result = drain_source(state, event.data.u64, *source);
    if (result.needs_dump()) {
      const std::lock_guard dump_lock(state.dump_mutex);
      dump_and_apply(state, event.data.u64, *source, result.overrun, result.closed_listeners);
    }
    overrun = overrun || result.overrun;
    if (result.queue.fraction() > fullest.fraction()) {
      fullest = result.queue;
    }
  }
  return overrun ? pacing.after_overrun() : pacing.after_read(fullest.queued, fullest.capacity);
}

// Waits for `pause`, or less when the accounting stops.
void pause_reader(const AccountingState& state, std::chrono::microseconds pause) {
  if (pause <= std::chrono::microseconds::zero()) {
    return;
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(pause);
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(pause - seconds);
  const timespec timeout{seconds.count(), nanoseconds.count()};
  pollfd wake{state.wake_fd, POLLIN, 0};
  // EINTR only shortens the pause.
  (void)ppoll(&wake, 1, &timeout, nullptr);
}

// The sources to dump for a refresh: those with tracked sockets or listeners, and those whose
// drain found an overrun or a closed listener. Finalizes the entries and drops the listeners of
// retired rules first.
std::vector<std::pair<std::uint64_t, std::shared_ptr<SockDiagSource>>> dump_targets(
    AccountingState& state, const std::unordered_map<std::uint64_t, DrainResult>& drained) {
  const std::lock_guard lock(state.mutex);
  std::unordered_set<std::uint64_t> ids;
  for (auto it = state.entries.begin(); it != state.entries.end();) {
    if (it->second.cells->retired.load(std::memory_order_relaxed)) {
      it = finalize_entry(state.entries, it, nullptr);
      continue;
    }
    ids.insert(it->second.source_id);
    ++it;
  }
  std::erase_if(state.listeners, [](const Listener& listener) {
    return listener.cells->retired.load(std::memory_order_relaxed);
  });
  for (const Listener& listener : state.listeners) {
    ids.insert(listener.source_id);
  }
  for (const auto& [id, result] : drained) {
    if (result.needs_dump()) {
      ids.insert(id);
    }
  }
  std::vector<std::pair<std::uint64_t, std::shared_ptr<SockDiagSource>>> targets;
  for (const std::uint64_t id : ids) {
    if (const auto found = state.sources.find(id); found != state.sources.end()) {
      targets.emplace_back(id, found->second);
    }
  }
  return targets;
}

}  // namespace

TcpSource::TcpSource(std::weak_ptr<AccountingState> state, std::uint64_t id)
    : state_(std::move(state)), id_(id) {}

TcpSource::~TcpSource() {
  const auto state = state_.lock();
  if (state == nullptr) {
    return;
  }
  const std::lock_guard dump_lock(state->dump_mutex);
  const std::lock_guard lock(state->mutex);
  const auto found = state->sources.find(id_);
  if (found == state->sources.end()) {
    return;
  }
  (void)epoll_ctl(state->epoll_fd, EPOLL_CTL_DEL, found->second->destroy_fd(), nullptr);
  for (auto it = state->entries.begin(); it != state->entries.end();) {
    it = it->second.source_id == id_ ? finalize_entry(state->entries, it, nullptr) : std::next(it);
  }
  std::erase_if(state->listeners,
                [this](const Listener& listener) { return listener.source_id == id_; });
  state->sources.erase(found);
}

ByteAccounting::ByteAccounting(ErrorCounter count_error, std::chrono::microseconds max_pause)
    : state_(std::make_shared<AccountingState>()), max_pause_(max_pause) {
  state_->count_error = std::move(count_error);
  state_->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  state_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (state_->epoll_fd < 0 || state_->wake_fd < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "creating the sock_diag reader's epoll or eventfd failed");
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeId;
  if (epoll_ctl(state_->epoll_fd, EPOLL_CTL_ADD, state_->wake_fd, &event) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "registering the sock_diag reader's eventfd failed");
  }
  reader_ = std::thread([this] { read_destroy_messages(); });
  // Named for top -H and perf. The kernel limits names to 15 characters.
  (void)pthread_setname_np(reader_.native_handle(), "sockgate-diag");
}

ByteAccounting::~ByteAccounting() {
  state_->stopping.store(true);
  const std::uint64_t one = 1;
  (void)write(state_->wake_fd, &one, sizeof one);
  reader_.join();
}

std::shared_ptr<TcpSource> ByteAccounting::add_source(std::unique_ptr<SockDiagSource> source) {
  const std::lock_guard lock(state_->mutex);
  const std::uint64_t id = state_->next_source_id++;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = id;
  if (epoll_ctl(state_->epoll_fd, EPOLL_CTL_ADD, source->destroy_fd(), &event) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "registering a sock_diag destroy socket with the reader failed");
  }
  log().debug("sock_diag source {}: destroy receive buffer {} bytes", id,
              source->destroy_buffer_bytes());
  state_->sources.emplace(id, std::move(source));
  return std::shared_ptr<TcpSource>(new TcpSource(state_, id));
}

void ByteAccounting::track(const TcpSource& source, std::uint64_t cookie,
                           std::shared_ptr<TrafficCells> cells, Opening opening) {
  if (source.state_.lock() != state_) {
    throw std::invalid_argument("the TCP source belongs to another metrics instance");
  }
  if (cells == nullptr || cells->retired.load(std::memory_order_relaxed)) {
    return;
  }
  const std::lock_guard lock(state_->mutex);
  if (!state_->sources.contains(source.id_)) {
    return;
  }
  Entry entry{source.id_, cells, opening == Opening::active, state_->next_serial++, 0, 0};
  if (state_->entries.try_emplace(cookie, std::move(entry)).second) {
    cells->open_sockets.fetch_add(1, std::memory_order_relaxed);
  }
}

void ByteAccounting::track_listener(const TcpSource& source, std::uint64_t cookie,
                                    const LocalAddress& local,
                                    std::shared_ptr<TrafficCells> cells) {
  if (source.state_.lock() != state_) {
    throw std::invalid_argument("the TCP source belongs to another metrics instance");
  }
  if (cells == nullptr || cells->retired.load(std::memory_order_relaxed)) {
    return;
  }
  const std::lock_guard lock(state_->mutex);
  if (!state_->sources.contains(source.id_) || is_listener(*state_, source.id_, cookie)) {
    return;
  }
  state_->listeners.push_back(Listener{source.id_, cookie, local, std::move(cells)});
}

void ByteAccounting::refresh() {
  const std::lock_guard dump_lock(state_->dump_mutex);
  // Read the destroy messages that wait for the reader's pause to end, so that a scrape right
  // after a socket closed counts its final bytes.
  std::vector<std::pair<std::uint64_t, std::shared_ptr<SockDiagSource>>> sources;
  {
    const std::lock_guard lock(state_->mutex);
    sources.assign(state_->sources.begin(), state_->sources.end());
  }
  std::unordered_map<std::uint64_t, DrainResult> drained;
  for (const auto& [id, source] : sources) {
    drained.emplace(id, drain_source(*state_, id, *source));
  }

  for (const auto& [id, source] : dump_targets(*state_, drained)) {
    const DrainResult& result = drained[id];
    dump_and_apply(*state_, id, *source, result.overrun, result.closed_listeners);
  }
}

std::size_t ByteAccounting::tracked() const {
  const std::lock_guard lock(state_->mutex);
  return state_->entries.size();
}

std::uint64_t ByteAccounting::reader_wakeups() const {
  return state_->reader_wakeups.load(std::memory_order_relaxed);
}

void ByteAccounting::read_destroy_messages() {
  constexpr int kMaxEvents = 16;
  std::array<epoll_event, kMaxEvents> events{};
  ReaderPacing pacing(max_pause_);
  while (!state_->stopping.load()) {
    const int ready = epoll_wait(state_->epoll_fd, events.data(), kMaxEvents, -1);
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready < 0) {
      // Other failures (EBADF, EFAULT, EINVAL) would repeat on every retry.
      log().error("the sock_diag reader stopped: epoll_wait failed: {}", std::strerror(errno));
      state_->count_error(ErrorKind::sock_diag, 1);
      return;
    }
    state_->reader_wakeups.fetch_add(1, std::memory_order_relaxed);
    const auto pause = drain_ready_sources(
        *state_, std::span(events.data(), static_cast<std::size_t>(ready)), pacing);
    pause_reader(*state_, pause);
  }
}

}  // namespace sockgate::metrics
