# Data pipeline for object detection (mmdet transforms).
#
# train_pipeline loads the boxes and augments; test_pipeline resizes only. The model's
# data_preprocessor normalises and pads, so the pipelines keep uint8 images. Use them in a data
# loader, e.g. train_dataloader = dict(dataset=dict(type='CocoDataset', ..., pipeline=train_pipeline))

default_scope = 'mmdet'  # registry that resolves the transform types below

image_scale = (992, 736)  # (width, height) the images are resized to, keeping their aspect ratio

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),  # after Resize: boxes are scored at their original scale
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
