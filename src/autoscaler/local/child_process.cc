#include "autoscaler/local/child_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>

#include "common/error.h"

namespace tide::autoscaler {
namespace {

constexpr std::size_t kRecentLines = 50;

std::string describe(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

ChildProcess::ChildProcess(ChildSpec spec) : spec_(std::move(spec)) {
  // Close-on-exec, so later children do not inherit this one's log.
  log_fd_ = ::open(spec_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd_ < 0) throw Error("cannot open log file " + spec_.log_file.string() + ": " + std::strerror(errno));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ::close(log_fd_);
    throw Error(std::string("pipe: ") + std::strerror(errno));
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_storage{spec_.program};
  argv_storage.insert(argv_storage.end(), spec_.args.begin(), spec_.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [k, v] : spec_.env) overridden |= k == name;
    if (!overridden) env_storage.push_back(entry);
  }
  for (const auto& [k, v] : spec_.env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();

  // The exec error, if any, comes back through a close-on-exec pipe: empty means exec worked.
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    for (int fd : {pipe_fds[0], pipe_fds[1], log_fd_}) ::close(fd);
    throw Error(std::string("pipe: ") + std::strerror(errno));
  }
  pid_ = ::fork();
  if (pid_ < 0) {
    const int err = errno;
    for (int fd : {pipe_fds[0], pipe_fds[1], status_pipe[0], status_pipe[1], log_fd_}) ::close(fd);
    throw Error(std::string("fork: ") + std::strerror(err));
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    ::setpgid(0, 0);  // its own process group: a Ctrl-C at the terminal reaches `tide up` only
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    // Nothing else of the parent reaches the program: Asio's sockets (the status port, client
    // connections) are not close-on-exec, and a replica outliving tide up must not hold them.
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
      for (int fd = 3; fd < 4096; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent may block signals for its own handling
    ::execvpe(argv[0], argv.data(), envp.data());
    const int err = errno;
    [[maybe_unused]] auto written = ::write(status_pipe[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  ::close(status_pipe[1]);
  int exec_errno = 0;
  const auto got = ::read(status_pipe[0], &exec_errno, sizeof exec_errno);
  ::close(status_pipe[0]);
  if (got == sizeof exec_errno) {
    ::close(pipe_fds[0]);
    ::close(log_fd_);
    ::waitpid(pid_, nullptr, 0);
    throw Error("cannot start " + spec_.program + ": " + std::strerror(exec_errno));
  }
  reader_ = std::thread([this, fd = pipe_fds[0]] { pump(fd); });
  waiter_ = std::thread([this] { reap(); });
}

ChildProcess::~ChildProcess() {
  if (running()) signal(SIGKILL);
  if (waiter_.joinable()) waiter_.join();
  // Something it started (in its process group) may still hold the output pipe open; while it
  // lives, the group id cannot have been given to anyone else.
  if (!output_done_.load()) ::kill(-pid_, SIGKILL);
  if (reader_.joinable()) reader_.join();
}

void ChildProcess::pump(int fd) {
  static const std::regex listening(R"(listening on (http://[0-9A-Za-z.\[\]:-]+:\d+))");
  std::string pending;
  char buffer[4096];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    [[maybe_unused]] auto logged = ::write(log_fd_, buffer, static_cast<std::size_t>(n));
    pending.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1)) {
      std::string line = pending.substr(0, end);
      std::lock_guard lock(mutex_);
      std::smatch m;
      if (!url_ && std::regex_search(line, m, listening)) {
        url_ = m[1];
        changed_.notify_all();
      }
      recent_.push_back(std::move(line));
      if (recent_.size() > kRecentLines) recent_.erase(recent_.begin());
    }
  }
  ::close(fd);
  ::close(log_fd_);
  {
    std::lock_guard lock(mutex_);
    output_done_ = true;
  }
  changed_.notify_all();
}

void ChildProcess::reap() {
  // Wait for the exit without reaping, then reap under the lock: signal() never reaches a pid
  // the system may already have given to another process.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  std::unique_lock lock(mutex_);
  // Its last words first (they explain the exit), unless something it started keeps the
  // output open: then the exit is reported without waiting for that.
  changed_.wait_for(lock, std::chrono::seconds(1), [this] { return output_done_.load(); });
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exit_status_ = describe(status);
  lock.unlock();
  changed_.notify_all();
}

std::optional<std::string> ChildProcess::url() const {
  std::lock_guard lock(mutex_);
  return url_;
}

std::optional<std::string> ChildProcess::wait_for_url(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [this] { return url_ || exit_status_; });
  return url_;
}

bool ChildProcess::running() const {
  std::lock_guard lock(mutex_);
  return !exit_status_;
}

std::optional<std::string> ChildProcess::exit_status() const {
  std::lock_guard lock(mutex_);
  return exit_status_;
}

void ChildProcess::signal(int signo) {
  std::lock_guard lock(mutex_);
  if (!exit_status_) ::kill(pid_, signo);  // not yet reaped, so the pid is still ours
}

bool ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return exit_status_.has_value(); });
}

std::string ChildProcess::tail(std::size_t lines) const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (std::size_t i = recent_.size() > lines ? recent_.size() - lines : 0; i < recent_.size(); ++i)
    out += recent_[i] + "\n";
  return out;
}

}  // namespace tide::autoscaler
