# Hierarchical image classification: EfficientNet-B0 -> global average pooling -> one linear
# head per level of the label tree (mmpretrain MultiTaskHead). Each level is a multi-class
# problem; a sample may be labelled at some levels only.
#
# A self-contained mmengine config (no _base_): every key the model needs is here, so
# `otxgen build --backbone ...` can rewrite the backbone and the head's in_channels in place.
# Weights start random (init_cfg=None): nothing is downloaded when the model is built.

default_scope = 'mmpretrain'  # registry that resolves the unscoped types below


model = dict(
    type='ImageClassifier',
    # Normalises and batches the images; RGB mean / std of ImageNet.
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
    ),
    backbone=dict(
        type='EfficientNet',
        arch='b0',
        out_indices=(6, ),  # the final 1x1 conv only: 1280 channels at stride 32
        init_cfg=None,
    ),
    # (N, 1280, H/32, W/32) -> (N, 1280)
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiTaskHead',
        # One task per level of the label tree, coarse to fine; set num_classes per level.
        task_heads=dict(
            coarse=dict(type='LinearClsHead', num_classes=2),
            fine=dict(type='LinearClsHead', num_classes=5),
        ),
        # Shared by every task head:
        in_channels=1280,  # must match the backbone's last output
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
    ),
)
