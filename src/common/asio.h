// Boost.Asio, as every part of kumod includes it. Boost 1.74's awaitable.hpp
// uses std::exchange without including <utility>, which GCC 12 in C++20 mode
// rejects; including <utility> first works around it.
#pragma once

// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on
