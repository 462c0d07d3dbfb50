#include "autoscaler/local/local_replica_set.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "common/error.h"
#include "common/http/client.h"
#include "gateway/gateway_config.h"

namespace tide::autoscaler {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kExitedKept = 5;  // exited replicas still shown, newest last

// "http://127.0.0.1:8101" → "127.0.0.1:8101"
std::string host_port(const std::string& url) {
  const auto start = url.find("://");
  return start == std::string::npos ? url : url.substr(start + 3);
}

bool answers_ready(const std::string& url) {
  const auto address = gateway::parse_host_port(host_port(url));
  if (!address) return false;
  try {
    http::Client client(address->host, address->port, milliseconds(1000));
    return client.get("/ready").result_int() == 200;
  } catch (const Error&) {
    return false;
  }
}

std::string join(const std::vector<int>& devices) {
  std::string out;
  for (int d : devices) {
    if (!out.empty()) out += ',';
    out += std::to_string(d);
  }
  return out;
}

}  // namespace

std::string_view to_string(ReplicaState state) {
  switch (state) {
    case ReplicaState::Starting: return "starting";
    case ReplicaState::Ready: return "ready";
    case ReplicaState::Draining: return "draining";
    case ReplicaState::Exited: return "exited";
  }
  return "?";
}

struct LocalReplicaSet::Replica {
  int id = 0;
  ReplicaState state = ReplicaState::Starting;
  Clock::time_point since = Clock::now();
  std::optional<std::vector<int>> devices;
  std::unique_ptr<ChildProcess> process;
  bool terminated = false;  // SIGTERM sent (draining, or a start abandoned)
  std::string note;
};

LocalReplicaSet::LocalReplicaSet(std::string pool, ReplicaTemplate replica, int initial)
    : pool_(std::move(pool)), template_(std::move(replica)), desired_(initial) {
  std::filesystem::create_directories(template_.log_dir);
  write_discovery_file();
  loop_ = std::thread([this] { run(); });
}

LocalReplicaSet::~LocalReplicaSet() { stop(template_.drain_timeout + std::chrono::seconds(5)); }

ReplicaCounts LocalReplicaSet::observe() {
  std::lock_guard lock(mutex_);
  ReplicaCounts counts{.desired = desired_};
  for (const auto& r : replicas_) {
    if (r->state == ReplicaState::Ready) counts.ready++;
    if (r->state == ReplicaState::Starting) counts.starting++;
    if (r->state == ReplicaState::Draining) counts.draining++;
  }
  return counts;
}

void LocalReplicaSet::scale_to(int replicas, const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  if (replicas < 0) replicas = 0;
  if (!template_.device_groups.empty() && replicas > static_cast<int>(template_.device_groups.size())) {
    spdlog::warn("pool {}: {} replicas asked for, but only {} GPU group(s) exist; scaling to {}", pool_, replicas,
                 template_.device_groups.size(), template_.device_groups.size());
    replicas = static_cast<int>(template_.device_groups.size());
  }
  if (replicas != desired_) spdlog::info("pool {}: scale {} → {}: {}", pool_, desired_, replicas, reason);
  desired_ = replicas;
}

std::vector<ReplicaStatus> LocalReplicaSet::replicas() const {
  std::lock_guard lock(mutex_);
  std::vector<ReplicaStatus> out;
  const auto now = Clock::now();
  for (const auto& r : replicas_)
    out.push_back({.id = r->id,
                   .state = r->state,
                   .url = r->process ? r->process->url().value_or("") : "",
                   .pid = r->process ? r->process->pid() : 0,
                   .age_s = std::chrono::duration<double>(now - r->since).count(),
                   .devices = r->devices ? join(*r->devices) : "",
                   .note = r->note});
  return out;
}

std::vector<std::string> LocalReplicaSet::ready_urls() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> urls;
  for (const auto& r : replicas_)
    if (r->state == ReplicaState::Ready) urls.push_back(*r->process->url());
  return urls;
}

void LocalReplicaSet::run() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    try {
      reconcile();
    } catch (const std::exception& e) {
      // A full disk or a vanished run directory must not take the whole system down; the
      // discovery file is written again on the next pass.
      spdlog::error("pool {}: {}", pool_, e.what());
      std::lock_guard lock(mutex_);
      rotation_dirty_ = true;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  // The replicas were forked by this thread, and PR_SET_PDEATHSIG fires when the forking
  // thread ends: so this thread drains them before it ends, never the other way round.
  drain_all();
}

void LocalReplicaSet::reconcile() {
  // Probe the starting replicas without the lock (a probe may take up to a second); only this
  // thread adds or removes replicas, so the pointers stay valid.
  std::vector<std::pair<Replica*, std::string>> probes;
  {
    std::lock_guard lock(mutex_);
    for (const auto& r : replicas_)
      if (r->state == ReplicaState::Starting && !r->terminated)
        if (auto url = r->process->url()) probes.emplace_back(r.get(), *url);
  }
  std::vector<Replica*> now_ready;
  for (const auto& [replica, url] : probes)
    if (answers_ready(url)) now_ready.push_back(replica);

  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  bool rotation_changed = false;
  auto move_to = [&](Replica& r, ReplicaState state, std::string note = {}) {
    rotation_changed |= r.state == ReplicaState::Ready || state == ReplicaState::Ready;
    r.state = state;
    r.since = now;
    if (r.note.empty()) r.note = std::move(note);  // the first reason stands ("start timed out")
  };

  for (Replica* r : now_ready)
    if (r->state == ReplicaState::Starting && !r->terminated) {
      spdlog::info("pool {}: replica {} ready at {} after {:.1f} s", pool_, r->id, *r->process->url(),
                   std::chrono::duration<double>(now - r->since).count());
      move_to(*r, ReplicaState::Ready);
      consecutive_failures_ = 0;
    }

  for (auto& r : replicas_) {
    if (r->state == ReplicaState::Exited) continue;
    if (!r->process->running()) {
      const std::string status = r->process->exit_status().value_or("?");
      if (r->state == ReplicaState::Draining || r->terminated) {
        spdlog::info("pool {}: replica {} stopped ({})", pool_, r->id, status);
        move_to(*r, ReplicaState::Exited, "stopped");
      } else {
        if (r->state == ReplicaState::Starting) consecutive_failures_++;
        spdlog::error("pool {}: replica {} exited unexpectedly ({}) while {}; last output:\n{}", pool_, r->id, status,
                      to_string(r->state), r->process->tail(10));
        move_to(*r, ReplicaState::Exited, "died: " + status);
      }
      continue;
    }
    if (r->state == ReplicaState::Starting && !r->terminated && now - r->since > template_.start_timeout) {
      spdlog::error("pool {}: replica {} not ready after {} s; stopping it. Last output:\n{}", pool_, r->id,
                    std::chrono::duration_cast<std::chrono::seconds>(template_.start_timeout).count(),
                    r->process->tail(10));
      consecutive_failures_++;
      r->process->signal(SIGKILL);
      r->terminated = true;
      r->note = "start timed out";
    }
    if (r->state == ReplicaState::Draining) {
      // Out of the gateway's rotation first; SIGTERM once the gateway has seen the file.
      if (!r->terminated && now - r->since >= template_.rotation_delay) {
        r->process->signal(SIGTERM);
        r->terminated = true;
      }
      if (now - r->since > template_.rotation_delay + template_.drain_timeout + std::chrono::seconds(10))
        r->process->signal(SIGKILL);
    }
  }

  // Scale: count what serves or will serve, then start or retire the difference.
  auto live = [](const Replica& r) {
    return (r.state == ReplicaState::Starting && !r.terminated) || r.state == ReplicaState::Ready;
  };
  int active = static_cast<int>(std::count_if(replicas_.begin(), replicas_.end(), [&](const auto& r) { return live(*r); }));
  for (; active > desired_; --active) {
    // Retire the newest first: a starting replica (no traffic yet), else the youngest ready one.
    Replica* victim = nullptr;
    for (auto& r : replicas_)
      if (r->state == ReplicaState::Starting && !r->terminated) victim = r.get();
    if (victim) {
      // Never in rotation, and a replica still loading its weights has SIGTERM blocked: kill it,
      // so its GPUs are free at once.
      victim->process->signal(SIGKILL);
      victim->terminated = true;
      victim->note = "start cancelled";
      continue;
    }
    for (auto& r : replicas_)
      if (r->state == ReplicaState::Ready) victim = r.get();
    spdlog::info("pool {}: draining replica {} ({})", pool_, victim->id, *victim->process->url());
    move_to(*victim, ReplicaState::Draining);
  }
  if (active < desired_ && now >= next_start_allowed_) {
    try {
      // A replica still draining holds its GPU group: wait for it, which is not a failed start.
      for (; active < desired_ && has_free_devices(); ++active) start_one();
    } catch (const Error& e) {
      consecutive_failures_++;
      spdlog::error("pool {}: cannot start a replica: {}", pool_, e.what());
    }
    if (consecutive_failures_ > 0)
      next_start_allowed_ = now + std::min<milliseconds>(std::chrono::seconds(30),
                                                         milliseconds(1000L << std::min(consecutive_failures_ - 1, 5)));
  }

  if (rotation_changed || rotation_dirty_) {
    rotation_dirty_ = true;  // until written: a failed write is tried again on the next pass
    write_discovery_file();
    rotation_dirty_ = false;
  }
  // Forget all but the newest few exited replicas.
  std::size_t exited = std::count_if(replicas_.begin(), replicas_.end(),
                                     [](const auto& r) { return r->state == ReplicaState::Exited; });
  for (auto it = replicas_.begin(); exited > kExitedKept && it != replicas_.end();)
    if ((*it)->state == ReplicaState::Exited) {
      it = replicas_.erase(it);
      exited--;
    } else {
      ++it;
    }
}

bool LocalReplicaSet::has_free_devices() const {
  return template_.device_groups.empty() || free_group().has_value();
}

std::optional<std::vector<int>> LocalReplicaSet::free_group() const {
  for (const auto& group : template_.device_groups) {
    const bool taken = std::any_of(replicas_.begin(), replicas_.end(), [&](const auto& r) {
      return r->state != ReplicaState::Exited && r->devices == group;
    });
    if (!taken) return group;
  }
  return std::nullopt;
}

void LocalReplicaSet::start_one() {
  auto replica = std::make_unique<Replica>();
  replica->id = next_id_;
  ChildSpec spec{.program = template_.program,
                 .args = {"serve"},
                 .env = {},
                 .log_file = template_.log_dir / ("replica-" + pool_ + "-" + std::to_string(replica->id) + ".log")};
  spec.args.insert(spec.args.end(), template_.serve_args.begin(), template_.serve_args.end());
  for (const char* arg : {"--host", template_.host.c_str(), "--port", "0"}) spec.args.emplace_back(arg);
  spec.args.push_back("--drain-timeout");
  spec.args.push_back(std::to_string(std::chrono::duration<double>(template_.drain_timeout).count()));
  if (template_.cpu_threads > 0 && !std::getenv("OMP_NUM_THREADS"))
    spec.env.emplace_back("OMP_NUM_THREADS", std::to_string(template_.cpu_threads));
  // Replicas share the machine's cores with each other and the gateway. An OpenMP thread that
  // spins at a barrier holds a core the thread it waits for needs: on a busy 2-core machine a
  // 6-token generation of a tiny model took 1.2 s spinning and 2 ms with passive waits.
  if (!std::getenv("OMP_WAIT_POLICY")) spec.env.emplace_back("OMP_WAIT_POLICY", "passive");
  if (!template_.device_groups.empty()) {
    replica->devices = free_group();
    if (!replica->devices) throw Error("every GPU group is in use");
    spec.env.emplace_back("CUDA_VISIBLE_DEVICES", join(*replica->devices));
  }
  replica->process = std::make_unique<ChildProcess>(std::move(spec));
  next_id_++;
  spdlog::info("pool {}: starting replica {} (pid {}{}{})", pool_, replica->id, replica->process->pid(),
               replica->devices ? ", GPUs " : "", replica->devices ? join(*replica->devices) : "");
  replicas_.push_back(std::move(replica));
}

void LocalReplicaSet::write_discovery_file() const {
  // Written beside and renamed over, so the gateway never reads half a file.
  const auto temporary = template_.discovery_file.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << "# replicas of pool " << pool_ << " that are ready, written by tide up\n";
    for (const auto& r : replicas_)
      if (r->state == ReplicaState::Ready) out << host_port(*r->process->url()) << "\n";
    if (!out) throw Error("cannot write " + temporary);
  }
  std::filesystem::rename(temporary, template_.discovery_file);
}

void LocalReplicaSet::stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) stop_grace_ = grace;
    stopping_ = true;
  }
  if (loop_.joinable()) loop_.join();
}

void LocalReplicaSet::drain_all() {
  // Only this thread touches the replicas now; the lock is held for the bookkeeping only, so
  // observe() and replicas() keep answering while everything drains.
  std::vector<Replica*> serving, starting;
  std::chrono::milliseconds grace;
  {
    std::lock_guard lock(mutex_);
    grace = stop_grace_;
    desired_ = 0;
    for (auto& r : replicas_) {
      if (r->state == ReplicaState::Exited) continue;
      if (r->state == ReplicaState::Starting) {
        starting.push_back(r.get());
        continue;
      }
      if (r->state == ReplicaState::Ready) {
        r->state = ReplicaState::Draining;
        r->since = Clock::now();
      }
      serving.push_back(r.get());
    }
    try {
      write_discovery_file();  // out of rotation first
    } catch (const std::exception& e) {
      spdlog::warn("pool {}: {}", pool_, e.what());
    }
  }
  // Never in rotation: nothing to drain (a replica still loading has SIGTERM blocked).
  for (Replica* r : starting) r->process->signal(SIGKILL);
  if (!serving.empty()) std::this_thread::sleep_for(template_.rotation_delay);  // the gateway re-reads the file
  for (Replica* r : serving) r->process->signal(SIGTERM);
  const auto deadline = Clock::now() + grace;
  for (Replica* r : serving) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (!r->process->wait_exit(std::max(left, milliseconds(0)))) {
      spdlog::warn("pool {}: replica {} still running after {} ms; killing it", pool_, r->id, grace.count());
      r->process->signal(SIGKILL);
    }
  }
  for (auto* list : {&starting, &serving})
    for (Replica* r : *list) {
      r->process->wait_exit(milliseconds(5000));
      std::lock_guard lock(mutex_);
      r->state = ReplicaState::Exited;
      if (r->note.empty()) r->note = "stopped";
    }
}

}  // namespace tide::autoscaler
