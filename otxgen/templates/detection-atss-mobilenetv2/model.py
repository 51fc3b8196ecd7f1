# Object detection: ATSS with a MobileNetV2 backbone and an FPN neck.
#
# A self-contained mmengine config (no _base_): `otxgen build --backbone ...` rewrites the
# backbone and the neck's in_channels in place and keeps these comments.
# Weights start random (init_cfg=None): nothing is downloaded when the model is built.

default_scope = 'mmdet'  # registry that resolves the unscoped types below

num_classes = 3  # set to the number of classes of your data set

model = dict(
    type='ATSS',
    # Normalises, batches and pads the images to a multiple of the largest backbone stride.
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
    ),
    backbone=dict(
        type='MobileNetV2',
        widen_factor=1.0,
        # Stages ending at stride 4, 8, 16 and 32 with 24, 32, 96 and 320 channels.
        out_indices=(1, 2, 4, 6),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None,
    ),
    neck=dict(
        type='FPN',
        in_channels=[24, 32, 96, 320],  # one entry per backbone output, in order
        out_channels=96,
        # Skip the stride-4 map: the anchors below start at stride 8.
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,  # strides 8, 16, 32 from the backbone, then 64 and 128 from extra convs
        relu_before_extra_convs=True,
    ),
    bbox_head=dict(
        type='ATSSHead',
        num_classes=num_classes,
        in_channels=96,  # the neck's out_channels
        stacked_convs=2,
        feat_channels=96,
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=8,
            scales_per_octave=1,
            strides=[8, 16, 32, 64, 128],  # one per neck output
        ),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[0.1, 0.1, 0.2, 0.2],
        ),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
    ),
    train_cfg=dict(
        assigner=dict(type='ATSSAssigner', topk=9),
        allowed_border=-1,
        pos_weight=-1,
        debug=False,
    ),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=100,
    ),
)
