// dbxcred-load: the benchmark's measuring tools, one binary, one JSON line of results per run.
//   http  — closed-loop keep-alive HTTP/1.1 GETs over a Unix socket from N connections for a fixed
//           time (one epoll thread, one request in flight per connection): rps, p50/p90/p99/max.
//   exec  — wall time of a command, process start included, over R runs: median, min, p90.
//   ready — time from fork+exec of a server to the first successful connect() on its socket.
//   hold  — opens N idle connections, reports how many the server kept, holds them for S seconds.
// Reads and writes no tokens: response bodies are only counted, never printed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/bench/histogram.h"

namespace {

using Clock = std::chrono::steady_clock;
using dbx::bench::LatencyHistogram;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "dbxcred-load: %s\n", what.c_str());
  std::exit(1);
}

std::uint64_t ns_since(Clock::time_point t0) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
}

double us(std::uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

// Connects to a Unix socket; -1 with errno set on failure.
int connect_unix(const std::string& path, bool nonblocking) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) die("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

struct Options {
  std::string mode;
  std::string socket;
  std::string path = "/healthz";
  int connections = 1;
  double duration = 5;
  double warmup = 0.5;
  int runs = 50;
  double hold_seconds = 10;
  std::vector<std::string> command;
};

Options parse(int argc, char** argv) {
  if (argc < 2) {
    die("usage: dbxcred-load http --socket S --path P [-c N] [-d SECONDS] [--warmup SECONDS]\n"
        "       dbxcred-load exec [-n RUNS] -- CMD ARG...\n"
        "       dbxcred-load ready --socket S -- CMD ARG...\n"
        "       dbxcred-load hold --socket S -c N [--seconds S]");
  }
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + std::string(a));
      return argv[++i];
    };
    if (a == "--socket") {
      o.socket = value();
    } else if (a == "--path") {
      o.path = value();
    } else if (a == "-c" || a == "--connections") {
      o.connections = std::stoi(value());
    } else if (a == "-d" || a == "--duration") {
      o.duration = std::stod(value());
    } else if (a == "--warmup") {
      o.warmup = std::stod(value());
    } else if (a == "-n" || a == "--runs") {
      o.runs = std::stoi(value());
    } else if (a == "--seconds") {
      o.hold_seconds = std::stod(value());
    } else if (a == "--") {
      o.command.assign(argv + i + 1, argv + argc);
      break;
    } else {
      die("unknown option " + std::string(a));
    }
  }
  if (o.connections < 1) die("-c must be at least 1");
  return o;
}

// ---- http ---------------------------------------------------------------------------------------

struct Conn {
  int fd = -1;
  Clock::time_point sent;
  std::string in;  // bytes of the response being read
};

// Length of a complete response at the start of `in` (status in `status`), or 0 if incomplete.
std::size_t complete_response(std::string_view in, int& status) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  std::string_view head = in.substr(0, end);
  status = head.size() > 12 ? std::atoi(std::string(head.substr(9, 3)).c_str()) : 0;
  std::size_t length = 0;
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;
       pos = head.find("\r\n", pos + 2)) {
    std::string_view line = head.substr(pos + 2);
    line = line.substr(0, line.find("\r\n"));
    constexpr std::string_view kName = "content-length:";
    if (line.size() > kName.size() &&
        std::equal(kName.begin(), kName.end(), line.begin(),
                   [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
      length = std::strtoull(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
  }
  if (in.size() < end + 4 + length) return 0;
  return end + 4 + length;
}

int run_http(const Options& o) {
  if (o.socket.empty()) die("http needs --socket");
  const std::string request = "GET " + o.path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<std::size_t>(o.connections));
  std::uint64_t reconnects = 0, errors = 0, completed = 0;
  auto open_conn = [&](std::size_t i) {
    Conn& c = conns[i];
    c.fd = connect_unix(o.socket, false);
    if (c.fd < 0) die("cannot connect to " + o.socket + ": " + std::strerror(errno));
    ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    c.in.clear();
    c.in.reserve(4096);
  };
  auto send = [&](Conn& c) {
    c.sent = Clock::now();
    // A request is tiny and the socket buffer empty (one request in flight): one write suffices.
    if (::write(c.fd, request.data(), request.size()) != static_cast<ssize_t>(request.size()))
      die(std::string("short write: ") + std::strerror(errno));
  };
  for (std::size_t i = 0; i < conns.size(); ++i) open_conn(i);

  LatencyHistogram hist;
  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::duration<double>(o.warmup);
  const auto stop_at = measure_from + std::chrono::duration<double>(o.duration);
  for (auto& c : conns) send(c);
  std::vector<epoll_event> events(conns.size());
  char buf[16384];
  bool measuring = false;
  while (true) {
    const auto now = Clock::now();
    if (now >= stop_at) break;
    if (!measuring && now >= measure_from) measuring = true;
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0 && errno != EINTR) die(std::string("epoll_wait: ") + std::strerror(errno));
    for (int k = 0; k < n; ++k) {
      const auto i = static_cast<std::size_t>(events[k].data.u64);
      Conn& c = conns[i];
      bool closed = false;
      while (true) {
        ssize_t r = ::read(c.fd, buf, sizeof buf);
        if (r > 0) {
          c.in.append(buf, static_cast<std::size_t>(r));
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) closed = true;
        if (r < 0 && errno == EINTR) continue;
        break;
      }
      int status = 0;
      std::size_t len = complete_response(c.in, status);
      if (len > 0) {
        const std::uint64_t ns = ns_since(c.sent);
        const bool in_window = Clock::now() >= measure_from;
        if (in_window) {
          hist.record(ns);
          ++completed;
          if (status != 200) ++errors;
        }
        c.in.erase(0, len);
      }
      if (closed) {
        // The server closed the connection (e.g. a keep-alive request cap): reconnect and go on.
        ::close(c.fd);
        ++reconnects;
        open_conn(i);
        send(c);
      } else if (len > 0) {
        send(c);
      }
    }
  }
  const double window = std::chrono::duration<double>(Clock::now() - measure_from).count();
  for (auto& c : conns) ::close(c.fd);
  ::close(ep);
  std::printf(
      "{\"connections\":%d,\"seconds\":%.3f,\"requests\":%llu,\"errors\":%llu,\"reconnects\":%llu,"
      "\"rps\":%.1f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f}\n",
      o.connections, window, static_cast<unsigned long long>(completed),
      static_cast<unsigned long long>(errors), static_cast<unsigned long long>(reconnects),
      static_cast<double>(completed) / window, us(hist.quantile(0.50)), us(hist.quantile(0.90)),
      us(hist.quantile(0.99)), us(hist.max()));
  return errors == 0 && completed > 0 ? 0 : 1;
}

// ---- exec / ready -------------------------------------------------------------------------------

pid_t spawn(const std::vector<std::string>& cmd, bool quiet) {
  std::vector<char*> argv;
  for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) die(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (quiet) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::execvp(argv[0], argv.data());
    std::_Exit(127);
  }
  return pid;
}

int run_exec(const Options& o) {
  if (o.command.empty()) die("exec needs -- CMD");
  std::vector<double> ms;
  const int warmup = 3;  // page cache, dynamic loader cache
  for (int r = 0; r < o.runs + warmup; ++r) {
    const auto t0 = Clock::now();
    pid_t pid = spawn(o.command, true);
    int st = 0;
    ::waitpid(pid, &st, 0);
    const double t = static_cast<double>(ns_since(t0)) / 1e6;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("command failed: " + o.command[0]);
    if (r >= warmup) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[static_cast<std::size_t>(q * (ms.size() - 1))]; };
  std::printf("{\"runs\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,\"p90_ms\":%.3f}\n", o.runs, at(0.5),
              ms.front(), at(0.9));
  return 0;
}

int run_ready(const Options& o) {
  if (o.command.empty() || o.socket.empty()) die("ready needs --socket and -- CMD");
  ::unlink(o.socket.c_str());
  const auto t0 = Clock::now();
  pid_t pid = spawn(o.command, false);
  double ready_ms = -1;
  double answer_ms = -1;
  while (ns_since(t0) < 10'000'000'000ULL) {
    int fd = connect_unix(o.socket, false);
    if (fd >= 0) {
      ready_ms = static_cast<double>(ns_since(t0)) / 1e6;
      // Then the first answer (GET /healthz), which waits for the server's start-up to finish.
      constexpr std::string_view kHealth = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
      char buf[512];
      if (::write(fd, kHealth.data(), kHealth.size()) == static_cast<ssize_t>(kHealth.size()) &&
          ::read(fd, buf, sizeof buf) > 0)
        answer_ms = static_cast<double>(ns_since(t0)) / 1e6;
      ::close(fd);
      break;
    }
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) die("server exited before its socket was ready");
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  ::kill(pid, SIGTERM);
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (ready_ms < 0) die("socket not ready within 10 s");
  std::printf("{\"ready_ms\":%.3f,\"first_answer_ms\":%.3f}\n", ready_ms, answer_ms);
  return 0;
}

// ---- hold ---------------------------------------------------------------------------------------

int run_hold(const Options& o) {
  if (o.socket.empty()) die("hold needs --socket");
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(o.connections));
  for (int i = 0; i < o.connections; ++i) {
    int fd = connect_unix(o.socket, false);
    if (fd < 0) die("connect #" + std::to_string(i) + ": " + std::strerror(errno));
    fds.push_back(fd);
  }
  // Give the server time to accept them all; one it refused is closed (readable or hung up).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::vector<pollfd> pfds;
  for (int fd : fds) pfds.push_back(pollfd{fd, POLLIN, 0});
  ::poll(pfds.data(), pfds.size(), 0);
  std::size_t held = 0;
  for (const auto& p : pfds)
    if (p.revents == 0) ++held;
  std::printf("{\"opened\":%d,\"held\":%zu}\n", o.connections, held);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.hold_seconds));
  for (int fd : fds) ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  const Options o = parse(argc, argv);
  if (o.mode == "http") return run_http(o);
  if (o.mode == "exec") return run_exec(o);
  if (o.mode == "ready") return run_ready(o);
  if (o.mode == "hold") return run_hold(o);
  die("unknown mode " + o.mode);
}
