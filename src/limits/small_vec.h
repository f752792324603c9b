// A vector of trivially copyable values whose first N live inline: the handful of limits one
// request meets, their verdicts and settlements never reach the allocator (each allocation was
// ~100 instructions of a request's limit work, measured with bench/callgrind.sh LIMITS=4).
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <type_traits>

namespace warden::limits {

template <class T, std::size_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  SmallVec() = default;
  SmallVec(std::initializer_list<T> init) { assign(init.begin(), init.size()); }
  SmallVec(const SmallVec& o) { assign(o.data(), o.size()); }
  SmallVec& operator=(const SmallVec& o) {
    if (this != &o) {
      size_ = 0;
      assign(o.data(), o.size());
    }
    return *this;
  }
  ~SmallVec() = default;

  T* data() { return heap_ ? heap_.get() : inline_data(); }
  const T* data() const { return heap_ ? heap_.get() : inline_data(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  operator std::span<const T>() const { return {data(), size_}; }

  void clear() { size_ = 0; }
  void push_back(const T& v) {
    if (size_ == capacity_) grow(capacity_ * 2);
    data()[size_++] = v;
  }
  // New elements are value-initialised.
  void resize(std::size_t n) {
    if (n > capacity_) grow(std::max(n, capacity_ * 2));
    for (std::size_t i = size_; i < n; ++i) data()[i] = T{};
    size_ = n;
  }

 private:
  void assign(const T* from, std::size_t n) {
    if (n > capacity_) grow(n);
    std::copy(from, from + n, data());
    size_ = n;
  }
  void grow(std::size_t cap) {
    auto bigger = std::make_unique_for_overwrite<T[]>(cap);
    std::copy(data(), data() + size_, bigger.get());
    heap_ = std::move(bigger);
    capacity_ = cap;
  }

  // Raw bytes, not T[N]: only the first size_ elements are ever read, and an array of T would be
  // filled by T's member initialisers (zeroed: verdicts, states) at every construction and copy,
  // ~37 instructions each, several a request (bench/callgrind.sh LIMITS=4). T is an
  // implicit-lifetime type (trivially copyable, trivially destructible), so the elements exist
  // as soon as they are written.
  T* inline_data() { return reinterpret_cast<T*>(inline_); }
  const T* inline_data() const { return reinterpret_cast<const T*>(inline_); }
  alignas(T) unsigned char inline_[N * sizeof(T)];
  std::unique_ptr<T[]> heap_;
  std::size_t size_ = 0;
  std::size_t capacity_ = N;
};

}  // namespace warden::limits
