// The compiled part of Boost.Asio's TLS streams (see src/common/http/asio_impl.cc for the rest):
// here, beside the one library that links OpenSSL.
#include <boost/asio/ssl/impl/src.hpp>
