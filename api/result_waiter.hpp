#pragma once
// A result that another thread (a partition writer, the flow manager, a query pool) hands
// to a waiting request coroutine, with a deadline. Shared by every place in api/ that
// waits for work done elsewhere. Private to api/.
#include <utility>  // before Asio: std::exchange in its coroutine code

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

namespace ordo::api {

template <typename T>
class ResultWaiter : public std::enable_shared_from_this<ResultWaiter<T>> {
 public:
  // Call from the coroutine that will wait: the deadline starts now.
  static std::shared_ptr<ResultWaiter> make(boost::asio::any_io_executor ex,
                                            std::chrono::milliseconds timeout) {
    auto w = std::shared_ptr<ResultWaiter>(new ResultWaiter(std::move(ex)));
    w->timer_.expires_after(timeout);
    return w;
  }

  // From any thread, once: records the result and wakes the waiting coroutine.
  void deliver(T value) {
    {
      std::lock_guard lock(mu_);
      result_ = std::move(value);
    }
    auto self = this->shared_from_this();
    boost::asio::post(timer_.get_executor(), [self] { self->timer_.cancel(); });
  }

  // From any thread: the wait ends now, as if its deadline had passed (unless the result is
  // in already). For a stopping server, whose requests in hand should be answered at once.
  void give_up() {
    {
      std::lock_guard lock(mu_);
      given_up_ = true;
    }
    auto self = this->shared_from_this();
    boost::asio::post(timer_.get_executor(), [self] { self->timer_.cancel(); });
  }

  // Waits until delivered, given up, or the deadline passed; nullopt unless delivered.
  boost::asio::awaitable<std::optional<T>> wait() {
    {
      std::lock_guard lock(mu_);
      if (result_ || given_up_) co_return std::move(result_);
    }
    boost::system::error_code ec;
    co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    std::lock_guard lock(mu_);
    co_return std::move(result_);
  }

 private:
  explicit ResultWaiter(boost::asio::any_io_executor ex) : timer_(std::move(ex)) {}
  boost::asio::steady_timer timer_;
  std::mutex mu_;
  std::optional<T> result_;
  bool given_up_ = false;
};

}  // namespace ordo::api
