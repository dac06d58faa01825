// The Beast layer without sockets: serveBytes() parses with the server's
// limits and answers as a session would.
#include "http/http_wire.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

namespace jvb::http {
namespace {

namespace bhttp = boost::beast::http;
using Parsed = bhttp::response<bhttp::string_body>;

Router makeRouter() {
  RestOptions o;
  o.apiEnabled = true;
  o.shutdownEnabled = true;
  Handlers h;
  h.health = [] { return HealthReport{true, "", nlohmann::json::object()}; };
  h.stats = []() -> nlohmann::json { throw std::runtime_error("stats failed"); };
  h.drain = [] { return false; };
  h.setDrain = [](bool) {};
  h.shutdown = [](bool) { return true; };
  return Router(o, h);
}

// Splits serveBytes() output back into responses (HEAD answers need `heads`).
std::vector<Parsed> parseResponses(const std::string& bytes, const std::vector<bool>& heads = {}) {
  std::vector<Parsed> out;
  std::string_view rest = bytes;
  for (std::size_t i = 0; !rest.empty() && i < 32; ++i) {
    bhttp::response_parser<bhttp::string_body> p;
    p.eager(true);
    if (i < heads.size() && heads[i]) {
      p.skip(true);
    }
    boost::beast::error_code ec;
    const std::size_t n = p.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(p.is_done());
    if (ec || !p.is_done()) {
      break;
    }
    rest.remove_prefix(n);
    out.push_back(p.release());
  }
  EXPECT_TRUE(rest.empty());
  return out;
}

class WireTest : public ::testing::Test {
 protected:
  std::vector<Parsed> serve(const std::string& bytes, std::size_t chunk = 0,
                            const std::vector<bool>& heads = {}) {
    return parseResponses(wire::serveBytes(router, bytes, limits, chunk), heads);
  }
  Router router = makeRouter();
  ServerLimits limits;
};

TEST_F(WireTest, OneRequestHasTheCommonHeaders) {
  const auto rs = serve("GET /about/health HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].result_int(), 200U);
  EXPECT_EQ(rs[0][bhttp::field::server], "jvb-audio");
  EXPECT_EQ(rs[0][bhttp::field::access_control_allow_origin], "*");
  EXPECT_EQ(rs[0][bhttp::field::content_type], "application/json");
  EXPECT_EQ(rs[0][bhttp::field::content_length], std::to_string(rs[0].body().size()));
  EXPECT_EQ(rs[0].body(), R"({"healthy":true})");
  EXPECT_TRUE(rs[0].keep_alive());
}

TEST_F(WireTest, PipelinedRequestsInAnyChunking) {
  const std::string two =
      "GET /about/health HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /colibri/shutdown HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 27\r\n\r\n{\"graceful-shutdown\": true}"
      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::size_t chunk : {0, 1, 2, 7, 64}) {
    SCOPED_TRACE(chunk);
    const auto rs = serve(two, chunk);
    ASSERT_EQ(rs.size(), 3U);
    EXPECT_EQ(rs[0].result_int(), 200U);
    EXPECT_EQ(rs[1].result_int(), 200U);
    EXPECT_EQ(rs[2].result_int(), 404U);
  }
}

TEST_F(WireTest, ChunkedBody) {
  const auto rs = serve(
      "POST /colibri/shutdown HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n{\"gra\r\n16\r\nceful-shutdown\":false}\r\n0\r\n\r\n");
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].result_int(), 200U);
}

TEST_F(WireTest, ConnectionCloseStopsReading) {
  const auto rs = serve(
      "GET /about/health HTTP/1.1\r\nConnection: close\r\n\r\n"
      "GET /about/health HTTP/1.1\r\n\r\n");
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_FALSE(rs[0].keep_alive());
}

TEST_F(WireTest, Http10ClosesUnlessKeepAlive) {
  auto rs = serve("GET /about/health HTTP/1.0\r\n\r\nGET /about/health HTTP/1.0\r\n\r\n");
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].version(), 10U);
  rs = serve(
      "GET /about/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      "GET /about/health HTTP/1.0\r\n\r\n");
  ASSERT_EQ(rs.size(), 2U);
}

TEST_F(WireTest, HeadKeepsContentLengthWithoutBody) {
  const std::string raw = wire::serveBytes(router, "HEAD /about/version HTTP/1.1\r\n\r\n", limits);
  const auto rs = parseResponses(raw, {true});
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].result_int(), 200U);
  EXPECT_TRUE(rs[0].body().empty());
  EXPECT_NE(rs[0][bhttp::field::content_length], "0");
  EXPECT_EQ(raw.substr(raw.size() - 4), "\r\n\r\n");  // nothing after the header
}

TEST_F(WireTest, ThrowingHandlerIs500AndTheConnectionGoesOn) {
  const auto rs = serve("GET /colibri/stats HTTP/1.1\r\n\r\nGET /about/health HTTP/1.1\r\n\r\n");
  ASSERT_EQ(rs.size(), 2U);
  EXPECT_EQ(rs[0].result_int(), 500U);
  EXPECT_EQ(rs[1].result_int(), 200U);
}

TEST_F(WireTest, OversizedHeaderIs431AndCloses) {
  const std::string big(limits.maxHeaderBytes + 10, 'a');
  for (std::size_t chunk : {0, 1000}) {
    const auto rs = serve("GET /about/health HTTP/1.1\r\nX-Big: " + big +
                              "\r\n\r\nGET /about/health HTTP/1.1\r\n\r\n",
                          chunk);
    ASSERT_EQ(rs.size(), 1U);
    EXPECT_EQ(rs[0].result_int(), 431U);
    EXPECT_FALSE(rs[0].keep_alive());
    EXPECT_EQ(rs[0][bhttp::field::server], "jvb-audio");
  }
  // A long request line counts too.
  const auto rs = serve("GET /" + big + " HTTP/1.1\r\n\r\n");
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].result_int(), 431U);
}

TEST_F(WireTest, OversizedBodyIs413) {
  const std::string body(limits.maxBodyBytes + 1, 'x');
  auto rs =
      serve("POST /colibri/shutdown HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body);
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].result_int(), 413U);
  EXPECT_FALSE(rs[0].keep_alive());
  // Chunked: noticed while reading.
  rs = serve("POST /colibri/shutdown HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
             fmt::format("{:x}\r\n", body.size()) + body + "\r\n0\r\n\r\n");
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].result_int(), 413U);
  // At the limit is fine (and then a 400 from the router for the JSON).
  const std::string ok(limits.maxBodyBytes, ' ');
  rs = serve("POST /colibri/shutdown HTTP/1.1\r\nContent-Length: " + std::to_string(ok.size()) +
             "\r\n\r\n" + ok);
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].result_int(), 400U);
  EXPECT_TRUE(rs[0].keep_alive());
}

TEST_F(WireTest, GarbageIs400AndCloses) {
  for (const std::string& raw :
       {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS ClientHello
        std::string("GET\r\n\r\n"), std::string("GET / HTTP/1.1 x\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    SCOPED_TRACE(raw);
    const auto rs = serve(raw);
    ASSERT_EQ(rs.size(), 1U);
    EXPECT_EQ(rs[0].result_int(), 400U);
    EXPECT_FALSE(rs[0].keep_alive());
  }
}

TEST_F(WireTest, OtherHttpVersions) {
  // Beast's parser only takes HTTP/1.x; respond() answers anything else 505.
  for (const char* raw :
       {"GET /about/health HTTP/9.1\r\n\r\n", "GET /about/health HTTP/0.9\r\n\r\n"}) {
    const auto rs = serve(raw);
    ASSERT_EQ(rs.size(), 1U);
    EXPECT_EQ(rs[0].result_int(), 400U);
  }
  const wire::BeastRequest req{bhttp::verb::get, "/about/health", 20};
  const auto res = wire::respond(router, req);
  EXPECT_EQ(res.result_int(), 505U);
  EXPECT_FALSE(res.keep_alive());
}

TEST_F(WireTest, IncompleteRequestGetsNoAnswer) {
  EXPECT_EQ(wire::serveBytes(router, "", limits), "");
  EXPECT_EQ(wire::serveBytes(router, "GET /about/health HTTP/1.1\r\n", limits), "");
  EXPECT_EQ(wire::serveBytes(
                router, "POST /colibri/shutdown HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", limits),
            "");
}

TEST(ReadErrorResponse, Mapping) {
  using E = bhttp::error;
  EXPECT_EQ(wire::readErrorResponse(E::header_limit)->result_int(), 431U);
  EXPECT_EQ(wire::readErrorResponse(E::body_limit)->result_int(), 413U);
  EXPECT_EQ(wire::readErrorResponse(E::bad_method)->result_int(), 400U);
  EXPECT_EQ(wire::readErrorResponse(E::buffer_overflow)->result_int(), 400U);
  EXPECT_FALSE(wire::readErrorResponse(E::end_of_stream).has_value());
  EXPECT_FALSE(wire::readErrorResponse(E::partial_message).has_value());
  EXPECT_FALSE(wire::readErrorResponse(boost::asio::error::connection_reset).has_value());
  EXPECT_FALSE(wire::readErrorResponse(boost::asio::error::operation_aborted).has_value());
}

TEST(ToBeast, InvalidStatusBecomes500) {
  wire::BeastRequest req{bhttp::verb::get, "/", 11};
  Response r;
  r.status = 42;
  EXPECT_EQ(wire::toBeast(r, req).result_int(), 500U);
  r.status = 1000;
  EXPECT_EQ(wire::toBeast(r, req).result_int(), 500U);
}

TEST(ToBeast, RouterHeadersAndOwnCorsAreKept) {
  wire::BeastRequest req{bhttp::verb::get, "/", 11};
  Response r;
  r.headers.emplace_back("Allow", "GET");
  r.headers.emplace_back("Access-Control-Allow-Origin", "https://meet.example.com");
  const auto res = wire::toBeast(r, req);
  EXPECT_EQ(res[bhttp::field::allow], "GET");
  EXPECT_EQ(res[bhttp::field::access_control_allow_origin], "https://meet.example.com");
  EXPECT_EQ(res.count(bhttp::field::access_control_allow_origin), 1U);
  EXPECT_EQ(res[bhttp::field::content_length], "0");
}

}  // namespace
}  // namespace jvb::http
