// sctp::Association over dtls::Session against a third-party WebRTC stack:
// aiortc's DTLS + SCTP + data channels (aiortc_sctp_peer.py) over loopback
// UDP. Not a GoogleTest binary; CTest runs it once per mode:
//
//   opener  the bridge's case: aiortc (DTLS server, SCTP client) opens "JVB
//           data channel" with the colibri protocol on an odd stream; we are
//           the DTLS client and SCTP server and echo every text message; aiortc
//           checks the echoes and closes the channel (stream reset both ways).
//   echoer  the other roles: we (DTLS server, SCTP client) open the channel
//           on an odd stream, send, check aiortc's echoes, close the channel.
//
// Exit status 0 on success, 1 on failure, 77 (skipped) when python3 or aiortc
// is missing. Every wait is bounded; the Python process is stopped by PID.
#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "dtls/session.hpp"
#include "sctp/association.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace dtls = jvb::dtls;
namespace sctp = jvb::sctp;

constexpr const char* kPython = "/usr/bin/python3";
const std::string kLabel = "JVB data channel";
const std::string kProtocol = "http://jitsi.org/protocols/colibri";

// Must match messages() in aiortc_sctp_peer.py.
std::vector<std::string> messages() {
  std::vector<std::string> out = {
      "hello", "", std::string(16384, 'x'),
      "{\"colibriClass\":\"EndpointMessage\",\"msg\":\"h\xc3\xa9llo \xe2\x82\xac\"}"};
  for (int i = 0; i < 100; ++i) {
    out.push_back(fmt::format("m{}", i));
  }
  return out;
}

// A child process with stdout on a pipe (stderr inherited). Stopped by PID.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int out[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) != 0) {
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::vector<char*> argv;
    for (const std::string& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    stdout_ = out[0];
    fcntl(stdout_, F_SETFL, fcntl(stdout_, F_GETFL) | O_NONBLOCK);
  }
  ~Child() {
    stop();
    if (stdout_ >= 0) {
      ::close(stdout_);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] bool started() const { return pid_ > 0 || exited_; }
  [[nodiscard]] int stdoutFd() const { return stdout_; }

  // Complete lines printed so far, each once.
  std::vector<std::string> lines() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      pending_.append(buf, static_cast<size_t>(n));
    }
    std::vector<std::string> out;
    for (size_t nl; (nl = pending_.find('\n')) != std::string::npos;) {
      out.push_back(pending_.substr(0, nl));
      pending_.erase(0, nl + 1);
    }
    return out;
  }

  // The exit status once it has exited.
  std::optional<int> poll() {
    if (pid_ > 0) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exited_ = true;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
    }
    return exited_ ? std::optional<int>(status_) : std::nullopt;
  }

  // SIGTERM, then SIGKILL if it has not exited within a second.
  void stop() {
    if (pid_ <= 0) {
      return;
    }
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100 && !poll(); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
  std::string pending_;
  bool exited_ = false;
  int status_ = 0;
};

int runToExit(const std::vector<std::string>& args, std::chrono::seconds limit) {
  Child child(args);
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (const auto status = child.poll()) {
      return *status;
    }
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

class Udp {
 public:
  Udp() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof a;
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &length) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~Udp() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Udp(const Udp&) = delete;
  Udp& operator=(const Udp&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] uint16_t port() const { return port_; }
  void setPeer(uint16_t port) {
    peer_.sin_family = AF_INET;
    peer_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    peer_.sin_port = htons(port);
  }
  void send(std::span<const uint8_t> d) const {
    (void)sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&peer_),
                 sizeof peer_);
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  sockaddr_in peer_{};
};

struct Outcome {
  bool opened = false;
  uint16_t sid = 0;
  std::string label;
  std::string protocol;
  std::vector<std::string> texts;  // received
  int binaries = 0;
  bool channelClosed = false;
  int closed = 0;
  uint64_t dtlsRefused = 0;  // SCTP packets dtls::Session would not send
};

int run(bool opener, const std::string& script) {
  if (runToExit({kPython, "-c", "import aiortc"}, 60s) != 0) {
    std::printf("SKIP: %s cannot import aiortc\n", kPython);
    return 77;
  }
  Udp udp;
  if (udp.port() == 0) {
    std::printf("FAIL: no UDP socket\n");
    return 1;
  }
  const dtls::Certificate cert = dtls::Certificate::generate();
  const dtls::Context context(cert);
  Child peer({kPython, script, opener ? "opener" : "echoer", std::to_string(udp.port()),
              cert.fingerprintSha256()});
  if (!peer.started()) {
    std::printf("FAIL: could not start %s\n", script.c_str());
    return 1;
  }

  // READY <port> <fingerprint>
  std::string peerFingerprint;
  std::string result;
  const auto readyBy = Clock::now() + 30s;
  while (peerFingerprint.empty() && Clock::now() < readyBy && !peer.poll()) {
    pollfd p{peer.stdoutFd(), POLLIN, 0};
    ::poll(&p, 1, 50);
    for (const std::string& line : peer.lines()) {
      std::istringstream in(line);
      std::string word;
      int port = 0;
      if (in >> word && word == "READY" && in >> port >> peerFingerprint) {
        udp.setPeer(static_cast<uint16_t>(port));
      }
    }
  }
  if (peerFingerprint.empty()) {
    std::printf("FAIL: the aiortc peer did not get ready\n");
    return 1;
  }

  Outcome out;
  const std::vector<std::string> expected = messages();
  dtls::Session session(context, opener ? dtls::Role::kClient : dtls::Role::kServer,
                        {{"sha-256", peerFingerprint}},
                        [&udp](std::span<const uint8_t> d) { udp.send(d); }, {.logTag = "interop"});

  sctp::AssociationOptions options;
  options.dtlsClient = opener;  // aiortc takes the other DTLS role
  options.logTag = "interop";
  std::unique_ptr<sctp::Association> association;
  sctp::AssociationCallbacks cb;
  cb.sendToDtls = [&](std::span<const uint8_t> packet) {
    if (!session.sendApplicationData(packet)) {
      ++out.dtlsRefused;
    }
  };
  cb.onChannelOpen = [&](uint16_t sid, const std::string& label, const std::string& protocol) {
    out.opened = true;
    out.sid = sid;
    out.label = label;
    out.protocol = protocol;
    if (!opener) {
      for (const std::string& m : expected) {
        if (!association->sendText(sid, m)) {
          std::printf("FAIL: sendText refused\n");
        }
      }
    }
  };
  cb.onText = [&](uint16_t sid, std::string_view text) {
    out.texts.emplace_back(text);
    if (opener) {
      association->sendText(sid, text);  // echo
    } else if (out.texts.size() == expected.size()) {
      association->closeChannel(sid);
    }
  };
  cb.onBinary = [&](uint16_t, std::span<const uint8_t>) { ++out.binaries; };
  cb.onChannelClosed = [&](uint16_t) { out.channelClosed = true; };
  cb.onClosed = [&] { ++out.closed; };
  association = std::make_unique<sctp::Association>(
      opener ? sctp::Role::kServer : sctp::Role::kClient, std::move(cb), options);

  session.setOnApplicationData(
      [&](std::span<const uint8_t> data) { association->handlePacket(data); });
  bool openRequested = false;
  session.setOnStateChange([&](dtls::State state) {
    if (state == dtls::State::kConnected) {
      association->start();
    }
  });
  session.start(Clock::now());

  const auto end = Clock::now() + 40s;
  std::vector<uint8_t> buffer(65536);
  while (Clock::now() < end && result.empty()) {
    pollfd fds[2] = {{udp.fd(), POLLIN, 0}, {peer.stdoutFd(), POLLIN, 0}};
    ::poll(fds, 2, 10);
    for (;;) {
      const ssize_t n = recv(udp.fd(), buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        break;
      }
      session.handleDatagram({buffer.data(), static_cast<size_t>(n)}, Clock::now());
    }
    for (const std::string& line : peer.lines()) {
      if (line.rfind("RESULT", 0) == 0) {
        result = line;
      }
    }
    const auto now = Clock::now();
    if (const auto t = session.nextTimeout(); t && *t <= now) {
      session.onTimer(now);
    }
    sctp::Association::handleTimers(now);
    if (!opener && !openRequested && association->connected()) {
      openRequested = association->openChannel(kLabel, kProtocol).has_value();
    }
    if (peer.poll() && result.empty()) {
      for (const std::string& line : peer.lines()) {
        if (line.rfind("RESULT", 0) == 0) {
          result = line;
        }
      }
      break;
    }
  }
  // Let aiortc's last packets (reset responses) arrive, then stop it.
  for (const auto until = Clock::now() + 300ms; Clock::now() < until;) {
    const ssize_t n = recv(udp.fd(), buffer.data(), buffer.size(), 0);
    if (n > 0) {
      session.handleDatagram({buffer.data(), static_cast<size_t>(n)}, Clock::now());
    } else {
      std::this_thread::sleep_for(5ms);
    }
    sctp::Association::handleTimers(Clock::now());
  }
  peer.stop();

  const auto c = association->counters();
  std::printf(
      "mode %s: aiortc says '%s'; DTLS %s (%s); channel %s sid %u '%s' '%s'; texts %zu, "
      "binaries %d, channel closed %d, association closed %d; packets in %llu out %llu, "
      "malformed %llu, dropped %llu, send failures %llu, refused by DTLS %llu\n",
      opener ? "opener" : "echoer", result.c_str(),
      std::string(dtls::stateName(session.state())).c_str(), session.cipherName().c_str(),
      out.opened ? "open" : "not open", out.sid, out.label.c_str(), out.protocol.c_str(),
      out.texts.size(), out.binaries, out.channelClosed ? 1 : 0, out.closed,
      static_cast<unsigned long long>(c.packetsIn), static_cast<unsigned long long>(c.packetsOut),
      static_cast<unsigned long long>(c.malformed), static_cast<unsigned long long>(c.dropped),
      static_cast<unsigned long long>(c.sendFailures),
      static_cast<unsigned long long>(out.dtlsRefused));

  std::vector<std::string> failures;
  if (result != "RESULT OK") {
    failures.push_back("aiortc: " + (result.empty() ? std::string("no result") : result));
  }
  if (!out.opened || out.label != kLabel || out.protocol != kProtocol) {
    failures.push_back("channel not opened with the bridge label/protocol");
  }
  if (out.sid % 2 != 1) {
    failures.push_back("the DTLS server's channel must use an odd stream id");
  }
  if (out.texts != expected) {
    failures.push_back("texts differ from the expected " + std::to_string(expected.size()));
  }
  if (opener && (out.binaries != 1 || !out.channelClosed)) {
    failures.push_back("binary message or channel close missing");
  }
  if (c.malformed != 0 || c.dropped != 0 || c.sendFailures != 0 || out.dtlsRefused != 0) {
    failures.push_back("unexpected counters");
  }
  for (const std::string& f : failures) {
    std::printf("FAIL: %s\n", f.c_str());
  }
  if (failures.empty()) {
    std::printf("PASS\n");
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "opener" && std::string(argv[1]) != "echoer")) {
    std::fprintf(stderr, "usage: %s opener|echoer <aiortc_sctp_peer.py>\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  return run(std::string(argv[1]) == "opener", argv[2]);
}
