// dtls::Session against a third-party DTLS stack: the openssl command-line
// tool (s_server / s_client, DTLS 1.2, use_srtp) over loopback UDP. The test
// owns the UDP socket its Session talks through, starts the openssl process
// with pipes for stdin/stdout, waits with bounded polls and stops the process
// by its PID. The exported SRTP keys are compared with the keying material
// openssl prints for the same exporter label (RFC 5764 section 4.2).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "dtls/openssl_util.hpp"
#include "dtls/session.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using jvb::dtls::BioPtr;
using jvb::dtls::Certificate;
using jvb::dtls::Context;
using jvb::dtls::RemoteFingerprint;
using jvb::dtls::Role;
using jvb::dtls::Session;
using jvb::dtls::State;
namespace srtp = jvb::srtp;
namespace fs = std::filesystem;

constexpr const char* kOpenSsl = "/usr/bin/openssl";

// A directory with the peer's PEM files, removed afterwards.
class PemDir {
 public:
  PemDir() {
    std::string tmpl = (fs::temp_directory_path() / "jvb-dtls-interop-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) {
      dir_ = tmpl;
    }
  }
  ~PemDir() {
    std::error_code ec;
    if (!dir_.empty()) {
      fs::remove_all(dir_, ec);
    }
  }
  PemDir(const PemDir&) = delete;
  PemDir& operator=(const PemDir&) = delete;

  bool write(const Certificate& c) {
    BioPtr cert(BIO_new_file(certPath().c_str(), "w"));
    BioPtr key(BIO_new_file(keyPath().c_str(), "w"));
    return cert && key && PEM_write_bio_X509(cert.get(), c.x509()) == 1 &&
           PEM_write_bio_PrivateKey(key.get(), c.key(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }
  [[nodiscard]] std::string certPath() const { return dir_ + "/cert.pem"; }
  [[nodiscard]] std::string keyPath() const { return dir_ + "/key.pem"; }

 private:
  std::string dir_;
};

// The openssl process: stdin and stdout+stderr are pipes. Stopped by PID.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    std::vector<char*> argv;
    for (const std::string& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    fcntl(stdout_, F_SETFL, fcntl(stdout_, F_GETFL) | O_NONBLOCK);
  }
  ~Child() {
    stop();
    if (stdin_ >= 0) {
      ::close(stdin_);
    }
    if (stdout_ >= 0) {
      ::close(stdout_);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] int stdoutFd() const { return stdout_; }
  void write(const std::string& s) const {
    if (stdin_ >= 0) {
      (void)!::write(stdin_, s.data(), s.size());
    }
  }
  // Appends what the process printed so far to output().
  void readOutput() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(stdout_, buf, sizeof(buf));
      if (n <= 0) {
        return;
      }
      output_.append(buf, static_cast<size_t>(n));
    }
  }
  [[nodiscard]] const std::string& output() const { return output_; }

  // SIGTERM, then SIGKILL if it has not exited within a second.
  void stop() {
    if (pid_ <= 0) {
      return;
    }
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string output_;
};

// A loopback UDP socket that carries one Session's datagrams.
class Udp {
 public:
  Udp() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
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
  void setPeerPort(uint16_t port) {
    peer_ = sockaddr_in{};
    peer_->sin_family = AF_INET;
    peer_->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    peer_->sin_port = htons(port);
  }
  void send(std::span<const uint8_t> d) const {
    if (peer_) {
      (void)sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&*peer_),
                   sizeof(*peer_));
    }
  }
  // Receives one datagram (learning the peer from the first one).
  std::optional<std::vector<uint8_t>> receive() {
    std::vector<uint8_t> buf(65536);
    sockaddr_in from{};
    socklen_t len = sizeof(from);
    const ssize_t n =
        recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) {
      return std::nullopt;
    }
    if (!peer_) {
      peer_ = from;
    }
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::optional<sockaddr_in> peer_;
};

// A free UDP port for s_server (bound and released; a tiny race we accept).
uint16_t freeUdpPort() {
  Udp probe;
  return probe.port();
}

// Polls the socket and the child's output, feeding the Session, until
// done() or the deadline. The Session runs on the real steady clock here.
bool drive(Session& session, Udp& udp, Child& child, const std::function<bool()>& done,
           std::chrono::milliseconds limit = 10s) {
  const auto deadline = Session::Clock::now() + limit;
  while (Session::Clock::now() < deadline) {
    if (done()) {
      return true;
    }
    auto wait = 20ms;
    if (const auto t = session.nextTimeout()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*t - Session::Clock::now());
      wait = std::clamp(left, 0ms, wait);
    }
    pollfd fds[2] = {{udp.fd(), POLLIN, 0}, {child.stdoutFd(), POLLIN, 0}};
    (void)poll(fds, 2, static_cast<int>(wait.count()));
    while (auto d = udp.receive()) {
      session.handleDatagram(*d, Session::Clock::now());
    }
    child.readOutput();
    if (const auto t = session.nextTimeout(); t && *t <= Session::Clock::now()) {
      session.onTimer(Session::Clock::now());
    }
  }
  child.readOutput();
  return done();
}

bool waitForOutput(Child& child, const std::string& needle, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    child.readOutput();
    if (child.output().find(needle) != std::string::npos) {
      return true;
    }
    pollfd fd{child.stdoutFd(), POLLIN, 0};
    (void)poll(&fd, 1, 20);
  }
  return false;
}

// "Keying material: 49C1CA..." as printed by s_client / s_server.
std::string printedKeyingMaterial(const std::string& output) {
  const std::string tag = "Keying material: ";
  const size_t at = output.find(tag);
  if (at == std::string::npos) {
    return {};
  }
  const size_t begin = at + tag.size();
  const size_t end = output.find_first_of("\r\n", begin);
  return output.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// The exporter output our keys imply: client key | server key | client salt
// | server salt, upper-case hex.
std::string expectedKeyingMaterial(const srtp::Keys& k, Role ourRole) {
  const srtp::MasterKey& client = ourRole == Role::kClient ? k.local : k.remote;
  const srtp::MasterKey& server = ourRole == Role::kClient ? k.remote : k.local;
  const size_t keyLen = srtp::keyLength(k.profile);
  std::string hex;
  auto put = [&](const srtp::MasterKey& m, size_t from, size_t to) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (size_t i = from; i < to; ++i) {
      hex.push_back(kHex[m.bytes[i] >> 4]);
      hex.push_back(kHex[m.bytes[i] & 0xF]);
    }
  };
  put(client, 0, keyLen);
  put(server, 0, keyLen);
  put(client, keyLen, client.size);
  put(server, keyLen, server.size);
  return hex;
}

class OpenSslInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    // The peer under test: a missing one is a broken set-up, not a pass.
    ASSERT_EQ(access(kOpenSsl, X_OK), 0)
        << kOpenSsl << " not available (scripts/install-deps.sh installs openssl)";
    signal(SIGPIPE, SIG_IGN);  // a dead child's stdin must not kill the test
    ASSERT_TRUE(pem.write(theirs));
  }
  std::vector<RemoteFingerprint> theirFingerprint() const {
    return {{"sha-256", theirs.fingerprintSha256()}};
  }

  Certificate ours = Certificate::generate("jvb-audio");
  Certificate theirs = Certificate::generate("openssl-cli");
  Context ctx{ours};
  PemDir pem;
  std::string received;  // application data from the openssl peer
};

// Our client (remote fingerprint setup='passive') against s_server, which
// also insists on a client certificate and uses a HelloVerifyRequest cookie.
TEST_F(OpenSslInterop, OurClientAgainstOpenSslServerWithAesCm80) {
  const uint16_t port = freeUdpPort();
  Child server({kOpenSsl, "s_server", "-dtls1_2", "-accept", "127.0.0.1:" + std::to_string(port),
                "-cert", pem.certPath(), "-key", pem.keyPath(), "-Verify", "1", "-use_srtp",
                "SRTP_AES128_CM_SHA1_80", "-keymatexport", "EXTRACTOR-dtls_srtp",
                "-keymatexportlen", "60", "-mtu", "1200"});
  ASSERT_TRUE(server.running());
  ASSERT_TRUE(waitForOutput(server, "ACCEPT")) << server.output();

  Udp udp;
  udp.setPeerPort(port);
  Session session(ctx, Role::kClient, theirFingerprint(),
                  [&](std::span<const uint8_t> d) { udp.send(d); });
  session.setOnApplicationData(
      [&](std::span<const uint8_t> d) { received.append(d.begin(), d.end()); });
  session.start(Session::Clock::now());
  ASSERT_TRUE(drive(session, udp, server, [&] {
    return session.state() != State::kConnecting && printedKeyingMaterial(server.output()) != "";
  })) << server.output();
  ASSERT_EQ(session.state(), State::kConnected) << session.failureReason() << server.output();
  ASSERT_TRUE(session.srtpKeys());
  EXPECT_EQ(session.srtpKeys()->profile, srtp::Profile::kAes128CmHmacSha1_80);
  EXPECT_NE(server.output().find("profile=SRTP_AES128_CM_SHA1_80"), std::string::npos);
  EXPECT_EQ(printedKeyingMaterial(server.output()),
            expectedKeyingMaterial(*session.srtpKeys(), Role::kClient));

  const std::string hello = "hello from jvb-audio\n";
  ASSERT_TRUE(
      session.sendApplicationData({reinterpret_cast<const uint8_t*>(hello.data()), hello.size()}));
  server.write("ping from s_server\n");
  EXPECT_TRUE(drive(session, udp, server, [&] {
    return server.output().find(hello) != std::string::npos &&
           received.find("ping from s_server") != std::string::npos;
  })) << server.output();
  session.close();
  server.stop();
}

class OpenSslClientInterop : public OpenSslInterop,
                             public ::testing::WithParamInterface<srtp::Profile> {};

// s_client (like a browser answering setup='active') against our server.
TEST_P(OpenSslClientInterop, OpenSslClientAgainstOurServer) {
  const srtp::Profile profile = GetParam();
  Udp udp;
  Session session(ctx, Role::kServer, theirFingerprint(),
                  [&](std::span<const uint8_t> d) { udp.send(d); });
  session.setOnApplicationData(
      [&](std::span<const uint8_t> d) { received.append(d.begin(), d.end()); });
  session.start(Session::Clock::now());
  const size_t len = 2 * (srtp::keyLength(profile) + srtp::saltLength(profile));
  Child client({kOpenSsl, "s_client", "-dtls1_2", "-connect",
                "127.0.0.1:" + std::to_string(udp.port()), "-cert", pem.certPath(), "-key",
                pem.keyPath(), "-use_srtp", jvb::dtls::srtpProfileName(profile), "-keymatexport",
                "EXTRACTOR-dtls_srtp", "-keymatexportlen", std::to_string(len)});
  ASSERT_TRUE(client.running());
  ASSERT_TRUE(drive(session, udp, client, [&] {
    return session.state() != State::kConnecting && printedKeyingMaterial(client.output()) != "";
  })) << client.output();
  ASSERT_EQ(session.state(), State::kConnected) << session.failureReason() << client.output();
  EXPECT_EQ(session.cipherName(), "ECDHE-ECDSA-AES128-GCM-SHA256");  // our preference
  ASSERT_TRUE(session.srtpKeys());
  EXPECT_EQ(session.srtpKeys()->profile, profile);
  EXPECT_EQ(printedKeyingMaterial(client.output()),
            expectedKeyingMaterial(*session.srtpKeys(), Role::kServer));

  const std::string hello = "hello from jvb-audio\n";
  ASSERT_TRUE(
      session.sendApplicationData({reinterpret_cast<const uint8_t*>(hello.data()), hello.size()}));
  client.write("ping from s_client\n");
  EXPECT_TRUE(drive(session, udp, client, [&] {
    return client.output().find(hello) != std::string::npos &&
           received.find("ping from s_client") != std::string::npos;
  })) << client.output();
  session.close();
  client.stop();
}

// s_client renegotiates ('R' on its stdin: SSL_renegotiate) once connected
// (README "Misbehaving peers"): our server refuses (no_renegotiation),
// counts it, and the SRTP keys it exported stay what they were, whatever the
// peer does next (OpenSSL's client gives up its connection on the refusal).
TEST_P(OpenSslClientInterop, RenegotiationIsRefusedAndTheKeysStay) {
  const srtp::Profile profile = GetParam();
  Udp udp;
  Session session(ctx, Role::kServer, theirFingerprint(),
                  [&](std::span<const uint8_t> d) { udp.send(d); });
  session.start(Session::Clock::now());
  Child client({kOpenSsl, "s_client", "-dtls1_2", "-connect",
                "127.0.0.1:" + std::to_string(udp.port()), "-cert", pem.certPath(), "-key",
                pem.keyPath(), "-use_srtp", jvb::dtls::srtpProfileName(profile)});
  ASSERT_TRUE(client.running());
  ASSERT_TRUE(drive(session, udp, client, [&] {
    return session.state() != State::kConnecting &&
           client.output().find("SRTP Extension negotiated") != std::string::npos;
  })) << client.output();
  ASSERT_EQ(session.state(), State::kConnected) << session.failureReason() << client.output();
  ASSERT_TRUE(session.srtpKeys());
  const srtp::Keys before = *session.srtpKeys();
  EXPECT_EQ(session.stats().renegotiationsRefused, 0u);

  client.write("R\n");
  ASSERT_TRUE(drive(session, udp, client, [&] {
    return session.stats().renegotiationsRefused >= 1;
  })) << client.output();
  // Give the peer time to react; nothing more is counted for it.
  drive(
      session, udp, client, [] { return false; }, 500ms);
  EXPECT_EQ(session.stats().renegotiationsRefused, 1u);
  ASSERT_TRUE(session.srtpKeys());
  EXPECT_EQ(session.srtpKeys()->profile, before.profile);
  EXPECT_TRUE(std::equal(before.local.bytes.begin(), before.local.bytes.end(),
                         session.srtpKeys()->local.bytes.begin()));
  EXPECT_TRUE(std::equal(before.remote.bytes.begin(), before.remote.bytes.end(),
                         session.srtpKeys()->remote.bytes.begin()));
  session.close();
  client.stop();
}

INSTANTIATE_TEST_SUITE_P(Profiles, OpenSslClientInterop,
                         ::testing::Values(srtp::Profile::kAes128CmHmacSha1_80,
                                           srtp::Profile::kAeadAes128Gcm));

TEST_F(OpenSslInterop, OpenSslClientWithoutUseSrtpIsRefused) {
  Udp udp;
  Session session(ctx, Role::kServer, theirFingerprint(),
                  [&](std::span<const uint8_t> d) { udp.send(d); });
  session.start(Session::Clock::now());
  Child client({kOpenSsl, "s_client", "-dtls1_2", "-connect",
                "127.0.0.1:" + std::to_string(udp.port()), "-cert", pem.certPath(), "-key",
                pem.keyPath()});
  ASSERT_TRUE(client.running());
  ASSERT_TRUE(drive(session, udp, client, [&] { return session.state() != State::kConnecting; }))
      << client.output();
  EXPECT_EQ(session.state(), State::kFailed);
  EXPECT_NE(session.failureReason().find("use_srtp"), std::string::npos) << session.failureReason();
  EXPECT_FALSE(session.srtpKeys());
  client.stop();
}

// RFC 5763 section 5: the client must present a certificate.
TEST_F(OpenSslInterop, OpenSslClientWithoutCertificateIsRefused) {
  Udp udp;
  Session session(ctx, Role::kServer, theirFingerprint(),
                  [&](std::span<const uint8_t> d) { udp.send(d); });
  session.start(Session::Clock::now());
  Child client({kOpenSsl, "s_client", "-dtls1_2", "-connect",
                "127.0.0.1:" + std::to_string(udp.port()), "-use_srtp", "SRTP_AES128_CM_SHA1_80"});
  ASSERT_TRUE(client.running());
  ASSERT_TRUE(drive(session, udp, client, [&] { return session.state() != State::kConnecting; }))
      << client.output();
  EXPECT_EQ(session.state(), State::kFailed);
  EXPECT_NE(session.failureReason().find("certificate"), std::string::npos)
      << session.failureReason();
  EXPECT_FALSE(session.srtpKeys());
  client.stop();
}

TEST_F(OpenSslInterop, OpenSslClientWithAnotherCertificateIsRefused) {
  Udp udp;
  const Certificate signalled = Certificate::generate();
  Session session(ctx, Role::kServer, {{"sha-256", signalled.fingerprintSha256()}},
                  [&](std::span<const uint8_t> d) { udp.send(d); });
  session.start(Session::Clock::now());
  Child client({kOpenSsl, "s_client", "-dtls1_2", "-connect",
                "127.0.0.1:" + std::to_string(udp.port()), "-cert", pem.certPath(), "-key",
                pem.keyPath(), "-use_srtp", "SRTP_AES128_CM_SHA1_80"});
  ASSERT_TRUE(client.running());
  ASSERT_TRUE(drive(session, udp, client, [&] {
    return session.state() != State::kConnecting &&
           client.output().find("alert") != std::string::npos;
  })) << client.output();
  EXPECT_EQ(session.state(), State::kFailed);
  EXPECT_NE(session.failureReason().find(theirs.fingerprintSha256()), std::string::npos)
      << session.failureReason();
  EXPECT_NE(client.output().find("bad certificate"), std::string::npos) << client.output();
  client.stop();
}

}  // namespace
