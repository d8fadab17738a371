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
#include <vector>

namespace ordo::api {

// A waiter as the thread that wakes it sees it: it runs wake() on the waiter's executor.
class Wakeable {
 public:
  virtual ~Wakeable() = default;
  virtual boost::asio::any_io_executor executor() = 0;
  virtual void wake() = 0;  // on executor(), after the result was stored
};

// Wake-ups handed over from another thread, run together: a partition's committer completes
// a whole group commit in one loop, and the first wake-up posts one drain that runs all the
// ones added until it runs, instead of one post (and often one eventfd write and epoll
// return) per request. The drain holds no lock while it wakes. Unbounded only in the sense
// that every entry is a request already admitted by its partition's bounded queue.
class WakeBatch {
 public:
  // From any thread.
  void add(std::shared_ptr<Wakeable> w) {
    auto ex = w->executor();
    bool post_drain = false;
    {
      std::lock_guard lock(mu_);
      // A waiter of another executor than the pending drain's (more than one io_context)
      // is woken by a post of its own, below.
      if (!drain_posted_ || ex == executor_) {
        pending_.push_back(std::move(w));
        if (drain_posted_) return;  // the pending drain will run it
        drain_posted_ = true;
        executor_ = ex;
        post_drain = true;
      }
    }
    if (post_drain)
      boost::asio::post(ex, [this] { drain(); });
    else
      boost::asio::post(ex, [w = std::move(w)] { w->wake(); });
  }

 private:
  void drain() {
    std::vector<std::shared_ptr<Wakeable>> ready;
    {
      std::lock_guard lock(mu_);
      ready.swap(pending_);
      drain_posted_ = false;
    }
    for (auto& w : ready) w->wake();
  }

  std::mutex mu_;
  std::vector<std::shared_ptr<Wakeable>> pending_;
  bool drain_posted_ = false;
  boost::asio::any_io_executor executor_;
};

template <typename T>
class ResultWaiter : public Wakeable, public std::enable_shared_from_this<ResultWaiter<T>> {
 public:
  // Call from the coroutine that will wait: the deadline starts now.
  static std::shared_ptr<ResultWaiter> make(boost::asio::any_io_executor ex,
                                            std::chrono::milliseconds timeout) {
    auto w = std::shared_ptr<ResultWaiter>(new ResultWaiter(std::move(ex)));
    w->timer_.expires_after(timeout);
    return w;
  }

  // From any thread, once: records the result and wakes the waiting coroutine, through
  // `batch` when given (it must outlive the executor's pending work), else by a post of its own.
  void deliver(T value, WakeBatch* batch = nullptr) {
    {
      std::lock_guard lock(mu_);
      result_ = std::move(value);
    }
    auto self = this->shared_from_this();
    if (batch) {
      batch->add(std::move(self));
      return;
    }
    boost::asio::post(timer_.get_executor(), [self] { self->wake(); });
  }

  boost::asio::any_io_executor executor() override { return timer_.get_executor(); }
  void wake() override { timer_.cancel(); }

  // Waits until delivered or the deadline passed; nullopt when it passed first.
  boost::asio::awaitable<std::optional<T>> wait() {
    {
      std::lock_guard lock(mu_);
      if (result_) co_return std::move(result_);
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
};

}  // namespace ordo::api
