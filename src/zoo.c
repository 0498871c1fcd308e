/*
 * zoo.c - the paper's networks built from the graph API: LeNet-5 for MNIST and the CIFAR ResNets
 * (He et al. 2016, option-A shortcuts) with FleXOR 3x3 convolutions.
 */
#include "internal.h"

#define TRY(call) do { fx_status s_ = (call); if (s_) { fx_model_free(ctx, m); *out = NULL; return s_; } } while (0)

fx_status fx_model_lenet5(fx_ctx *ctx, fx_model **out, const fx_flexor_cfg *const fx[4], int max_batch, int training) {
    FX_CHECK_PTR(ctx, "fx_model_lenet5", out);
    fx_model *m = NULL;
    int id;
    fx_status s = fx_model_new(ctx, &m, 1, 28, 28);
    if (s) return s;
    TRY(fx_model_conv(ctx, m, 0, 32, 5, 1, 2, 1, fx ? fx[0] : NULL, &id));
    TRY(fx_model_relu(ctx, m, id, &id));
    TRY(fx_model_maxpool(ctx, m, id, 2, 2, &id));
    TRY(fx_model_conv(ctx, m, id, 64, 5, 1, 2, 1, fx ? fx[1] : NULL, &id));
    TRY(fx_model_relu(ctx, m, id, &id));
    TRY(fx_model_maxpool(ctx, m, id, 2, 2, &id));
    TRY(fx_model_dense(ctx, m, id, 512, 1, fx ? fx[2] : NULL, &id));
    TRY(fx_model_relu(ctx, m, id, &id));
    TRY(fx_model_dense(ctx, m, id, 10, 1, fx ? fx[3] : NULL, &id));
    TRY(fx_model_build(ctx, m, max_batch, training));
    *out = m;
    return FX_OK;
}

/* One basic block: conv-BN-ReLU-conv-BN, plus the (option-A) shortcut, then ReLU. */
static fx_status basic_block(fx_ctx *ctx, fx_model *m, int in, int planes, int stride, const fx_flexor_cfg *fx, int *id) {
    fx_node_info ni;
    fx_status s;
    int a, b;
    if ((s = fx_model_node_info(ctx, m, in, &ni))) return s;
    if ((s = fx_model_conv(ctx, m, in, planes, 3, stride, 1, 0, fx, &a))) return s;
    if ((s = fx_model_bn(ctx, m, a, &a))) return s;
    if ((s = fx_model_relu(ctx, m, a, &a))) return s;
    if ((s = fx_model_conv(ctx, m, a, planes, 3, 1, 1, 0, fx, &a))) return s;
    if ((s = fx_model_bn(ctx, m, a, &a))) return s;
    b = in;
    if (stride != 1 || ni.c != planes)
        if ((s = fx_model_shortcut(ctx, m, in, planes, stride, &b))) return s;
    if ((s = fx_model_add(ctx, m, a, b, &a))) return s;
    return fx_model_relu(ctx, m, a, id);
}

fx_status fx_model_resnet_cifar(fx_ctx *ctx, fx_model **out, int depth, const fx_flexor_cfg stage[3], int max_batch,
                                int training) {
    FX_CHECK_PTR(ctx, "fx_model_resnet_cifar", out);
    if (depth < 8 || (depth - 2) % 6)
        return fx_fail(ctx, FX_EINVAL, "fx_model_resnet_cifar: depth must be 6n+2 (20, 32, 44, 56, 110), got %d", depth);
    int nblocks = (depth - 2) / 6, id;
    fx_model *m = NULL;
    fx_status s = fx_model_new(ctx, &m, 3, 32, 32);
    if (s) return s;
    TRY(fx_model_conv(ctx, m, 0, 16, 3, 1, 1, 0, NULL, &id));
    TRY(fx_model_bn(ctx, m, id, &id));
    TRY(fx_model_relu(ctx, m, id, &id));
    for (int st = 0; st < 3; st++) {
        const fx_flexor_cfg *fx = stage && stage[st].q > 0 ? &stage[st] : NULL;
        for (int b = 0; b < nblocks; b++)
            TRY(basic_block(ctx, m, id, 16 << st, (st > 0 && b == 0) ? 2 : 1, fx, &id));
    }
    TRY(fx_model_gap(ctx, m, id, &id));
    TRY(fx_model_dense(ctx, m, id, 10, 1, NULL, &id));
    TRY(fx_model_build(ctx, m, max_batch, training));
    *out = m;
    return FX_OK;
}
