#pragma once
// What the tests that start real processes (tide serve, prometheus; started with
// autoscaler::ChildProcess) need besides: a free port, and a program on $PATH.
#include <string>

namespace tide::autoscaler::signals::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();
// The first executable named `name` on $PATH; empty when none.
std::string find_on_path(const std::string& name);

}  // namespace tide::autoscaler::signals::testing
