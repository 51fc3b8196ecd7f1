# Multi-label image classification: MobileNetV3-Large -> global average pooling -> linear head
# with one sigmoid per class (an image may carry any number of labels).
#
# A self-contained mmengine config (no _base_): every key the model needs is here, so
# `otxgen build --backbone ...` can rewrite the backbone and the head's in_channels in place.
# Weights start random (init_cfg=None): nothing is downloaded when the model is built.

default_scope = 'mmpretrain'  # registry that resolves the unscoped types below

num_classes = 3  # set to the number of classes of your data set

model = dict(
    type='ImageClassifier',
    # Normalises and batches the images; RGB mean / std of ImageNet.
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
    ),
    backbone=dict(
        type='MobileNetV3',
        arch='large',
        out_indices=(16, ),  # the final 1x1 conv only: 960 channels at stride 32
        init_cfg=None,
    ),
    # (N, 960, H/32, W/32) -> (N, 960)
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=num_classes,
        in_channels=960,  # must match the backbone's last output
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        thr=0.5,  # a class is predicted when its score passes this threshold
    ),
)
