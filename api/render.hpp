#pragma once
// Command outcomes → HTTP responses (status and JSON body). Pure: the partition thread runs
// these so that an Idempotency-Key replay returns the very same bytes.
#include "engine/runtime/submission.hpp"

namespace ordo::api {

Rendered render_rejection(const Rejection& r);
Rendered render_product_defined(const Outcome& o);
Rendered render_stock_adjusted(const Outcome& o);
Rendered render_order_placed(const Outcome& o);

}  // namespace ordo::api
