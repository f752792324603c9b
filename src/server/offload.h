// Runs blocking work (a large body's inspection) on the process's inspection pool and resumes
// the request's coroutine on its own worker when it is done: the worker's event loop keeps
// serving its other connections meanwhile. Only included by the pipeline.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <utility>

namespace warden {

// `job` runs on a thread of `pool`; what it reads and writes must stay alive until this returns
// (the caller's locals do: the coroutine is suspended meanwhile). The pool is stopped and joined
// before the workers' executors are destroyed (server.cpp).
template <typename Job>
boost::asio::awaitable<void> run_on(boost::asio::thread_pool& pool, Job job) {
  namespace net = boost::asio;
  auto home = co_await net::this_coro::executor;
  co_await net::async_initiate<decltype(net::use_awaitable), void()>(
      [&pool, &job, home](auto handler) {
        // Asio's completion handlers move only; the pool's queue wants a copyable function.
        auto resume = std::make_shared<decltype(handler)>(std::move(handler));
        net::post(pool, [&job, home, resume] {
          job();
          net::post(home, [resume] { std::move (*resume)(); });
        });
      },
      net::use_awaitable);
}

}  // namespace warden
