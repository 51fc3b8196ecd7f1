# Semantic segmentation: HRNetV2-W18 -> FCN head over the concatenated four resolutions.
#
# A self-contained mmengine config (no _base_): `otxgen build --backbone ...` rewrites the
# backbone and the decode head's in_channels / in_index in place and keeps these comments.
# Weights start random (init_cfg=None): nothing is downloaded when the model is built.

default_scope = 'mmseg'  # registry that resolves the unscoped types below

num_classes = 3  # set to the number of classes of your data set

# BN rather than SyncBN, so the model also runs on one device and on CPU.
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,  # padded label pixels are ignored by the loss
        size_divisor=32,
    ),
    backbone=dict(
        type='HRNet',
        norm_cfg=norm_cfg,
        norm_eval=False,
        # HRNetV2-W18: four parallel branches at strides 4, 8, 16, 32 with 18, 36, 72, 144 channels.
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4, ), num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4, 4), num_channels=(18, 36)),
            stage3=dict(
                num_modules=4, num_branches=3, block='BASIC', num_blocks=(4, 4, 4), num_channels=(18, 36, 72)),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(18, 36, 72, 144),
            ),
        ),
        init_cfg=None,
    ),
    decode_head=dict(
        type='FCNHead',
        in_channels=[18, 36, 72, 144],  # one entry per in_index
        in_index=(0, 1, 2, 3),
        channels=270,  # sum of in_channels: the maps are resized to stride 4 and concatenated
        input_transform='resize_concat',
        kernel_size=1,
        num_convs=1,
        concat_input=False,
        dropout_ratio=-1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
