#include "dtls/datagram_bio.hpp"

#include <memory>

namespace jvb::dtls {

namespace {

struct BioMethodFree {
  void operator()(BIO_METHOD* m) const { BIO_meth_free(m); }
};

int datagramWrite(BIO* bio, const char* data, int len) noexcept {
  auto* sink = static_cast<DatagramSink*>(BIO_get_data(bio));
  if (sink == nullptr || len < 0) {
    return -1;
  }
  if (len > 0) {
    sink->onDatagram({reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(len)});
  }
  return len;
}

long datagramCtrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) noexcept {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // nothing is buffered here: every write has been sent
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
      return 0;
    default:
      // Includes BIO_CTRL_DGRAM_GET_MTU_OVERHEAD (0: the MTU set on the SSL is
      // the datagram payload) and BIO_CTRL_DGRAM_QUERY_MTU (unused with
      // SSL_OP_NO_QUERY_MTU).
      return 0;
  }
}

int datagramCreate(BIO* bio) noexcept {
  BIO_set_init(bio, 1);
  return 1;
}

int datagramDestroy(BIO* bio) noexcept {
  BIO_set_data(bio, nullptr);
  BIO_set_init(bio, 0);
  return 1;
}

BIO_METHOD* datagramMethod() {
  static const std::unique_ptr<BIO_METHOD, BioMethodFree> method = [] {
    std::unique_ptr<BIO_METHOD, BioMethodFree> m(
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "jvb-dtls-datagram"));
    if (m && BIO_meth_set_write(m.get(), &datagramWrite) == 1 &&
        BIO_meth_set_ctrl(m.get(), &datagramCtrl) == 1 &&
        BIO_meth_set_create(m.get(), &datagramCreate) == 1 &&
        BIO_meth_set_destroy(m.get(), &datagramDestroy) == 1) {
      return m;
    }
    return std::unique_ptr<BIO_METHOD, BioMethodFree>();
  }();
  return method.get();
}

}  // namespace

BioPtr makeDatagramBio(DatagramSink* sink) {
  BIO_METHOD* method = datagramMethod();
  if (method == nullptr || sink == nullptr) {
    return nullptr;
  }
  BioPtr bio(BIO_new(method));
  if (bio) {
    BIO_set_data(bio.get(), sink);
  }
  return bio;
}

}  // namespace jvb::dtls
