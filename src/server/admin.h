// The admin listener (loopback by default): /healthz, /readyz, /metrics. Runs on the control
// thread; gathers metrics by asking each worker for a copy on its own thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>
#include <vector>

namespace warden {

class Worker;
struct Shared;

void start_admin(boost::asio::io_context& ioc, const std::string& host, const std::string& port,
                 std::vector<std::unique_ptr<Worker>>& workers, Shared& shared);

}  // namespace warden
