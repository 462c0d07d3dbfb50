// The compiled parts of Boost.Asio and Boost.Beast, once for the whole program: every target is
// built with BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION (top-level
// CMakeLists.txt), so the files that include them compile only declarations and templates.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
