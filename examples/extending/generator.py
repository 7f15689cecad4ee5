import torch


class PixelGaussian:
    """Every pixel an independent Gaussian with the training images' mean and spread."""

    def __init__(self, image_shape: tuple[int, ...]) -> None:
        self.mean = self.std = torch.zeros(image_shape)

    def fit(self, images: torch.Tensor, labels=None) -> None:  # images (N, C, H, W)
        self.mean, self.std = images.mean(0), images.std(0)

    def sample(self, n: int, labels=None, seed: int = 0) -> torch.Tensor:  # → (n, C, H, W)
        noise = torch.randn((n, *self.mean.shape), generator=torch.Generator().manual_seed(seed))
        return self.mean + self.std * noise
