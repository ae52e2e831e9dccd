// SPDX-License-Identifier: Apache-2.0
// Shared by attach.cc and dhcp_tap.cc.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "datapath.h"

namespace cordon {

// Switches this thread into a network namespace for its lifetime; the worker
// thread is restored before it runs anything else.
class NetnsGuard {
 public:
  explicit NetnsGuard(const std::string& path) {
    if (path.empty()) return;
    saved_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved_ < 0) throw DatapathError(ErrnoText("open own network namespace", errno));
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      close(saved_);
      throw DatapathError(ErrnoText("open network namespace " + path, e) + " — does `ip netns list` show it?");
    }
    int rc = setns(fd, CLONE_NEWNET);
    int e = errno;
    close(fd);
    if (rc < 0) {
      close(saved_);
      throw DatapathError(ErrnoText("enter network namespace " + path, e));
    }
  }
  ~NetnsGuard() {
    if (saved_ < 0) return;
    setns(saved_, CLONE_NEWNET);
    close(saved_);
  }

 private:
  int saved_ = -1;
};

}  // namespace cordon
