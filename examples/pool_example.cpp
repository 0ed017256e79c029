// SPDX-License-Identifier: Apache-2.0
// A request handler that reuses its parse state instead of allocating it anew.
#include <cistern/cistern.hpp>

#include <cstdio>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct ParsedRequest {
  std::string method;
  std::string path;
  std::unordered_map<std::string, std::string> headers;
  std::vector<char> body;

  // Called by the pool on every return: clear every field, keep the capacity.
  void reset() {
    method.clear();
    path.clear();
    headers.clear();
    body.clear();
  }
};

cistern::Pool<ParsedRequest> requests({.name = "parsed_requests"});

void handle(int worker, int i) {
  auto req = requests.get();  // a cached ParsedRequest, already reset
  req->method = "POST";
  req->path = "/v1/items/" + std::to_string(i);
  req->headers["x-worker"] = std::to_string(worker);
  req->body.assign(256, 'x');
}  // the lease returns req to the pool here

int main() {
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([w] {
      for (int i = 0; i < 10000; ++i) handle(w, i);
    });
  for (auto& t : workers) t.join();
  auto s = requests.stats();
  std::printf("gets %llu, made %llu, hit rate %.4f\n", static_cast<unsigned long long>(s.gets),
              static_cast<unsigned long long>(s.misses), s.hit_rate());
  std::fputs(cistern::metrics_text().c_str(), stdout);
}
