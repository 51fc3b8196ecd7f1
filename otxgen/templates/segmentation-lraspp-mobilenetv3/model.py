# Semantic segmentation: MobileNetV3-Large -> Lite R-ASPP head.
#
# A self-contained mmengine config (no _base_): `otxgen build --backbone ...` rewrites the
# backbone and the decode head's in_channels / in_index in place and keeps these comments.
# Weights start random (init_cfg=None): nothing is downloaded when the model is built.

default_scope = 'mmseg'  # registry that resolves the unscoped types below

num_classes = 3  # set to the number of classes of your data set

norm_cfg = dict(type='BN', eps=0.001, requires_grad=True)

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size_divisor=32,
    ),
    backbone=dict(
        type='MobileNetV3',
        arch='large',
        # Layers ending at strides 2, 4 and 8 (the last stages are dilated) with 16, 24 and 960 channels.
        out_indices=(1, 3, 16),
        norm_cfg=norm_cfg,
        init_cfg=None,
    ),
    decode_head=dict(
        type='LRASPPHead',
        in_channels=(16, 24, 960),
        in_index=(0, 1, 2),
        channels=128,
        input_transform='multiple_select',
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU'),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
