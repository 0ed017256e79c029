// SPDX-License-Identifier: Apache-2.0
// The epro_server binary as a child process of a test: started with the given
// flags (and optionally a lower RLIMIT_NOFILE), its port read from its first
// line, its stderr kept for the test to read, stopped by PID.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace cistern_test {

class EproProcess {
 public:
  // Runs `epro_server --port 0 <flags>`.
  explicit EproProcess(std::vector<std::string> flags, rlim_t nofile = 0) {
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      close(out[0]);
      close(err[0]);
      if (nofile != 0) {
        rlimit r{nofile, nofile};
        setrlimit(RLIMIT_NOFILE, &r);
      }
      std::vector<std::string> args = {"epro_server", "--port", "0"};
      args.insert(args.end(), flags.begin(), flags.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(EPRO_SERVER, argv.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    err_fd_ = err[0];
    FILE* f = fdopen(out[0], "r");
    if (std::fgets(first_line_, sizeof first_line_, f) != nullptr)
      std::sscanf(first_line_, "listening on 127.0.0.1:%d", &port_);
    std::fclose(f);
  }
  // SIGTERM, then SIGKILL if the server has not exited within 5 s.
  ~EproProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      if (wait_exit(std::chrono::milliseconds(5000)) == -1 && pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    if (err_fd_ >= 0) close(err_fd_);
  }
  EproProcess(const EproProcess&) = delete;
  EproProcess& operator=(const EproProcess&) = delete;

  int port() const { return port_; }
  const char* first_line() const { return first_line_; }

  // Sends SIGTERM and returns the exit status.
  int terminate() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  // Waits for the process to exit by itself (bounded); its status, or -1.
  int wait_exit(std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  // What the server wrote to stderr so far.
  std::string stderr_text() {
    std::string all;
    char buf[512];
    fcntl(err_fd_, F_SETFL, O_NONBLOCK);
    ssize_t n;
    while ((n = read(err_fd_, buf, sizeof buf)) > 0) all.append(buf, static_cast<std::size_t>(n));
    return all;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int err_fd_ = -1;
  char first_line_[160] = {};
};

}  // namespace cistern_test
