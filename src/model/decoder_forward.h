#pragma once
// The decoder every family shares, read top to bottom like the papers, written once over a
// backend's op set and run by every backend:
//   embed → per layer (norm, attention, residual add, norm, feed-forward, residual add) → norm →
//   logits.
// The backend (Ops) owns the residual stream. A block writes its output as the stream's pending
// update; the next norm adds it into the residual before normalising. norm() returns a handle
// rather than rows so that a backend may fold that add and the norm into the kernels that read
// the normalised rows (the CUDA backend does at decode sizes), and a feed-forward may then add
// its own output straight into the residual.
//
// Ops provides:
//   void embed();                                  the residual stream = the tokens' embeddings
//   Ops::Normed norm(int layer, LayerNorm which);  residual += pending; rows = rms_norm(residual)
//   logits();                                      residual += pending; the LM head of the
//                                                  final norm of the rows whose logits are wanted
// and the family's blocks write the pending update through ops of their own.
namespace tide {

enum class LayerNorm { Input, PostAttention };

template <class Ops, class Attention, class FeedForward>
auto decoder_forward(Ops& ops, int num_layers, const Attention& attention, const FeedForward& feed_forward) {
  ops.embed();
  for (int layer = 0; layer < num_layers; ++layer) {
    attention(layer, ops.norm(layer, LayerNorm::Input));
    feed_forward(layer, ops.norm(layer, LayerNorm::PostAttention));
  }
  return ops.logits();
}

}  // namespace tide
