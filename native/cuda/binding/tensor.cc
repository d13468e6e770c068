// Shape ops, broadcasting and reductions of device tensors (CUDA-only functions: on the CPU the
// tensor layer does these in JavaScript). Shapes and strides are JS arrays of at most 8 integers;
// strides are non-negative, and every element an offset and strides can reach is checked against
// its array before a kernel runs. An empty shape (a 0 dim) does nothing. Outputs must not overlap
// the inputs (two views of one DeviceArray): the caller guarantees it, as the threads run in any order.
//   stridedCopy(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape)
//   binaryStrided(op, a, aOffset, aStrides, b, bOffset, bStrides, y, shape)     op: arithOps add, sub, mul
//   reduceSum(x, xOffset, outShape, outStrides, redShape, redStrides, scale, y)
#include <algorithm>
#include <string>
#include <vector>

#include "../../cpu/nn.h"  // lk::ArithOp
#include "../tensor.h"
#include "args.h"

namespace lkc {
namespace {

using lk_cuda::kMaxRank;
using lk_cuda::Strides;
using List = std::vector<int64_t>;

// info[i]: a JS array of at most kMaxRank integers in [0, kMaxElements].
List int_list(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsArray())
    lkb::throw_type(env, std::string(name) + " must be an array of integers");
  const Napi::Array arr = info[i].As<Napi::Array>();
  if (arr.Length() > uint32_t(kMaxRank))
    lkb::throw_range(env, std::string(name) + " has " + std::to_string(arr.Length()) + " dims; at most " +
                              std::to_string(kMaxRank) + " are supported");
  List out;
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    const Napi::Value v = arr.Get(k);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(d >= 0 && d <= double(lkb::kMaxElements)) || d != double(int64_t(d)))
      lkb::throw_range(env, std::string(name) + "[" + std::to_string(k) + "] must be an integer in [0, " +
                                std::to_string(lkb::kMaxElements) + "], got " + v.ToString().Utf8Value());
    out.push_back(int64_t(d));
  }
  return out;
}

// The strides at info[i], one per dim of a shape of the given rank.
List strides_for(const Napi::CallbackInfo& info, size_t i, const char* name, const List& shape,
                 const char* shape_name) {
  List s = int_list(info, i, name);
  if (s.size() != shape.size())
    lkb::throw_range(info.Env(), std::string(name) + " has " + std::to_string(s.size()) + " entries but " + shape_name +
                                     " has " + std::to_string(shape.size()) + " dims");
  return s;
}

// Element count of a shape, within kMaxElements.
int64_t count(Napi::Env env, const char* name, const List& shape) {
  int64_t n = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d == 0)
      empty = true;
    else if (__builtin_mul_overflow(n, d, &n) || n > lkb::kMaxElements)
      lkb::throw_range(env, std::string(name) + " holds more than " + std::to_string(lkb::kMaxElements) + " elements");
  }
  return empty ? 0 : n;
}

// offset + sum (shape_d - 1) stride_d: the last element a non-empty shape reaches, added to `last`.
int64_t reach(Napi::Env env, const char* name, int64_t last, const List& shape, const List& strides) {
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t t;
    if (__builtin_mul_overflow(shape[d] - 1, strides[d], &t) || __builtin_add_overflow(last, t, &last) ||
        last >= lkb::kMaxElements)
      lkb::throw_range(env, std::string(name) + ": the offset and strides reach beyond " +
                                std::to_string(lkb::kMaxElements) + " elements");
  }
  return last;
}

// Left-pads to kMaxRank dims of extent 1 (stride 0).
Strides padded(const List& v, int64_t fill) {
  Strides s;
  const size_t pad = kMaxRank - v.size();
  for (size_t d = 0; d < size_t(kMaxRank); ++d) s.v[d] = d < pad ? fill : v[d - pad];
  return s;
}

// The destination strides must give every multi-index its own element: ordered by stride, each
// dim of extent > 1 must step past everything the smaller dims span.
void check_no_overlap(Napi::Env env, const char* name, const List& shape, const List& strides) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, extent)
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1) dims.emplace_back(strides[d], shape[d]);
  std::sort(dims.begin(), dims.end());
  int64_t span = 0;  // the largest offset the smaller dims reach
  for (const auto& [stride, extent] : dims) {
    if (stride <= span)
      lkb::throw_range(env, std::string(name) +
                                " make two elements of the shape land on one destination element "
                                "(the destination must not overlap itself)");
    span += (extent - 1) * stride;
  }
}

Napi::Value StridedCopy(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const List shape = int_list(info, 6, "shape");
  const List src_strides = strides_for(info, 2, "srcStrides", shape, "shape");
  const List dst_strides = strides_for(info, 5, "dstStrides", shape, "shape");
  const int64_t src_offset = lkb::i64(info, 1, "srcOffset"), dst_offset = lkb::i64(info, 4, "dstOffset");
  Args a(info);
  if (count(env, "shape", shape) == 0) {
    a.length(0, "src"), a.length(3, "dst");  // the types are still checked
    return env.Undefined();
  }
  const int64_t src_need = reach(env, "src", src_offset, shape, src_strides) + 1;
  const int64_t dst_need = reach(env, "dst", dst_offset, shape, dst_strides) + 1;
  check_no_overlap(env, "dstStrides", shape, dst_strides);
  const float* src = a.in_span(0, "src", src_need);
  float* dst = a.inout_span(3, "dst", dst_need);
  lk_cuda::strided_copy(padded(shape, 1), src, src_offset, padded(src_strides, 0), dst, dst_offset,
                        padded(dst_strides, 0));
  a.finish();
  return env.Undefined();
}

Napi::Value BinaryStrided(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t op = lkb::i64(info, 0, "op", 0, int64_t(lk::ArithOp::scale));
  if (op == int64_t(lk::ArithOp::scale)) lkb::throw_range(env, "op must be arithOps.add, sub or mul (not scale)");
  const List shape = int_list(info, 8, "shape");
  const List a_strides = strides_for(info, 3, "aStrides", shape, "shape");
  const List b_strides = strides_for(info, 6, "bStrides", shape, "shape");
  const int64_t a_offset = lkb::i64(info, 2, "aOffset"), b_offset = lkb::i64(info, 5, "bOffset");
  const int64_t total = count(env, "shape", shape);
  Args a(info);
  if (total == 0) {
    a.length(1, "a"), a.length(4, "b");
    a.out(7, "y", 0);
    return env.Undefined();
  }
  const float* pa = a.in_span(1, "a", reach(env, "a", a_offset, shape, a_strides) + 1);
  const float* pb = a.in_span(4, "b", reach(env, "b", b_offset, shape, b_strides) + 1);
  float* y = a.out(7, "y", total);
  lk_cuda::binary_strided(int(op), padded(shape, 1), pa, a_offset, padded(a_strides, 0), pb, b_offset,
                          padded(b_strides, 0), y);
  a.finish();
  return env.Undefined();
}

Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t x_offset = lkb::i64(info, 1, "xOffset");
  const List out_shape = int_list(info, 2, "outShape");
  const List out_strides = strides_for(info, 3, "outStrides", out_shape, "outShape");
  const List red_shape = int_list(info, 4, "redShape");
  const List red_strides = strides_for(info, 5, "redStrides", red_shape, "redShape");
  const float scale = float(lkb::f64(info, 6, "scale"));
  const int64_t outputs = count(env, "outShape", out_shape), terms = count(env, "redShape", red_shape);
  Args a(info);
  const float* x = nullptr;
  if (outputs > 0 && terms > 0)
    x = a.in_span(0, "x",
                  reach(env, "x", reach(env, "x", x_offset, out_shape, out_strides), red_shape, red_strides) + 1);
  else
    a.length(0, "x");  // not read; the type is still checked
  float* y = a.out(7, "y", outputs);
  lk_cuda::reduce_sum(x, x_offset, padded(out_shape, 1), padded(out_strides, 0), padded(red_shape, 1),
                      padded(red_strides, 0), scale, y);
  a.finish();
  return env.Undefined();
}

}  // namespace

void register_tensor(Napi::Env env, Napi::Object exports) {
  def(env, exports, "stridedCopy", StridedCopy);
  def(env, exports, "binaryStrided", BinaryStrided);
  def(env, exports, "reduceSum", ReduceSum);
}

}  // namespace lkc
