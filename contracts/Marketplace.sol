// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/**
 * @title Marketplace
 * @notice Licences to models of the {ModelRegistry}, paid in an ERC-20 token. The owner of a name lists
 * it with a purchase price (a perpetual licence) and/or a rental price per period; anyone buys or rents.
 * Every payment (purchase or rental) of a model whose newest version derives from others pays a share,
 * `royaltyBps` of it, to the owners of the parent versions, split equally among the parents; each
 * parent passes the same share of what it received on to its own parents, up to MAX_LINEAGE_DEPTH
 * levels and MAX_ROYALTY_RECIPIENTS payees per sale. Proceeds are credited, never pushed: each account
 * {withdraw}s its own balance (pull payments, reentrancy-guarded).
 */
contract Marketplace is Ownable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 public constant MAX_LINEAGE_DEPTH = 8;
    uint256 public constant MAX_ROYALTY_RECIPIENTS = 32;
    uint256 public constant MAX_ROYALTY_BPS = 5_000;
    uint256 public constant MAX_RENT_PERIODS = 10_000;
    uint256 private constant BPS = 10_000;

    struct Listing {
        address seller;
        uint64 rentPeriod;
        uint128 price;
        uint128 rentPrice;
    }

    ModelRegistry public immutable registry;
    IERC20 public immutable token;
    uint256 public royaltyBps;

    mapping(bytes32 nameHash => Listing) private _listings;
    mapping(bytes32 nameHash => mapping(address account => bool)) private _purchased;
    mapping(bytes32 nameHash => mapping(address account => uint64)) private _rentalExpiry;
    mapping(address account => uint256) private _balances;

    event Listed(bytes32 indexed nameHash, address indexed seller, uint256 price, uint256 rentPrice, uint64 rentPeriod);
    event Unlisted(bytes32 indexed nameHash, address indexed seller);
    event Purchased(bytes32 indexed nameHash, address indexed buyer, address indexed seller, uint256 price);
    event Rented(
        bytes32 indexed nameHash,
        address indexed renter,
        address indexed seller,
        uint256 periods,
        uint256 amount,
        uint64 expiresAt
    );
    event RoyaltyPaid(
        bytes32 indexed soldNameHash,
        bytes32 indexed parentNameHash,
        address indexed recipient,
        uint256 parentVersionId,
        uint256 amount,
        uint256 depth
    );
    event Withdrawn(address indexed account, uint256 amount);
    event RoyaltyBpsChanged(uint256 previousBps, uint256 newBps);

    error UnknownModel(string name);
    error NotNameOwner(string name, address caller);
    error InvalidListing(uint256 price, uint256 rentPrice, uint64 rentPeriod);
    error NotListed(string name);
    error NotForSale(string name);
    error NotForRent(string name);
    error PriceAboveMax(uint256 price, uint256 maxPrice);
    error AlreadyLicensed(string name, address account);
    error InvalidPeriods(uint256 periods, uint256 max);
    error NoRental(string name, address account);
    error NothingToWithdraw(address account);
    error RoyaltyTooHigh(uint256 bps, uint256 max);

    constructor(ModelRegistry registry_, IERC20 token_, uint256 royaltyBps_, address admin) Ownable(admin) {
        if (royaltyBps_ > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(royaltyBps_, MAX_ROYALTY_BPS);
        registry = registry_;
        token = token_;
        royaltyBps = royaltyBps_;
    }

    // ---------------------------------------------------------------- listings

    /**
     * @notice Offers licences to `name`. `price` 0 means not for sale; `rentPrice` 0 means not for rent,
     * otherwise `rentPeriod` (seconds) must be positive. Replaces an existing listing. Name owner only.
     */
    function list(string calldata name, uint256 price, uint256 rentPrice, uint64 rentPeriod) external {
        bytes32 nameHash = _requireNameOwner(name);
        bool forSale = price > 0;
        bool forRent = rentPrice > 0;
        if ((!forSale && !forRent) || (forRent != (rentPeriod > 0)) || price > type(uint128).max || rentPrice > type(uint128).max) {
            revert InvalidListing(price, rentPrice, rentPeriod);
        }
        _listings[nameHash] = Listing({seller: msg.sender, rentPeriod: rentPeriod, price: uint128(price), rentPrice: uint128(rentPrice)});
        emit Listed(nameHash, msg.sender, price, rentPrice, rentPeriod);
    }

    /// @notice Withdraws the listing of `name`. Licences already sold stay valid. Name owner only.
    function unlist(string calldata name) external {
        bytes32 nameHash = _requireNameOwner(name);
        if (_listings[nameHash].seller == address(0)) revert NotListed(name);
        delete _listings[nameHash];
        emit Unlisted(nameHash, msg.sender);
    }

    // ------------------------------------------------------------------- sales

    /// @notice Buys a perpetual licence to `name`, paying at most `maxPrice` (approve the token first).
    function buy(string calldata name, uint256 maxPrice) external nonReentrant {
        _buy(name, maxPrice);
    }

    /// @notice {buy} with an EIP-2612 permit instead of a prior approval.
    function buyWithPermit(string calldata name, uint256 maxPrice, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external nonReentrant {
        _permit(maxPrice, deadline, v, r, s);
        _buy(name, maxPrice);
    }

    /**
     * @notice Rents `name` for `periods` rental periods, paying at most `maxPricePerPeriod` per period.
     * An unexpired rental is extended from its current expiry.
     */
    function rent(string calldata name, uint256 periods, uint256 maxPricePerPeriod) external nonReentrant {
        _rent(name, periods, maxPricePerPeriod);
    }

    /// @notice {rent} with an EIP-2612 permit for `maxPricePerPeriod * periods`.
    function rentWithPermit(
        string calldata name,
        uint256 periods,
        uint256 maxPricePerPeriod,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant {
        _permit(maxPricePerPeriod * periods, deadline, v, r, s);
        _rent(name, periods, maxPricePerPeriod);
    }

    /// @notice Extends a rental the caller has (or had) of `name`; like {rent}, but refuses newcomers.
    function extend(string calldata name, uint256 periods, uint256 maxPricePerPeriod) external nonReentrant {
        if (_rentalExpiry[keccak256(bytes(name))][msg.sender] == 0) revert NoRental(name, msg.sender);
        _rent(name, periods, maxPricePerPeriod);
    }

    /// @notice Pays out the caller's whole balance.
    function withdraw() external nonReentrant {
        uint256 amount = _balances[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _balances[msg.sender] = 0;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    // ------------------------------------------------------------------- admin

    function setRoyaltyBps(uint256 bps) external onlyOwner {
        if (bps > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(bps, MAX_ROYALTY_BPS);
        emit RoyaltyBpsChanged(royaltyBps, bps);
        royaltyBps = bps;
    }

    // ------------------------------------------------------------------- views

    /**
     * @notice Whether `account` may use `name`: it owns or publishes it, bought a licence, or rents it
     * until after the current block's timestamp.
     */
    function hasLicense(string calldata name, address account) external view returns (bool) {
        bytes32 nameHash = keccak256(bytes(name));
        return _purchased[nameHash][account] || _rentalExpiry[nameHash][account] > block.timestamp
            || registry.isPublisher(name, account);
    }

    /// @notice The licence `account` holds on `name`: bought, and the end of its rental (0 if never rented).
    function licenseOf(string calldata name, address account) external view returns (bool purchased, uint64 rentalExpiresAt) {
        bytes32 nameHash = keccak256(bytes(name));
        return (_purchased[nameHash][account], _rentalExpiry[nameHash][account]);
    }

    /// @notice The listing of `name`; `active` is false when it was never listed, was unlisted, or the
    /// name changed hands since (a listing is only valid for the owner who made it).
    function listingOf(string calldata name) external view returns (Listing memory listing, bool active) {
        bytes32 nameHash = keccak256(bytes(name));
        listing = _listings[nameHash];
        active = listing.seller != address(0) && listing.seller == registry.ownerOfHash(nameHash);
    }

    /// @notice Tokens `account` can {withdraw}.
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    // ---------------------------------------------------------------- internal

    function _buy(string calldata name, uint256 maxPrice) private {
        (bytes32 nameHash, Listing memory listing) = _activeListing(name);
        if (listing.price == 0) revert NotForSale(name);
        if (listing.price > maxPrice) revert PriceAboveMax(listing.price, maxPrice);
        if (_purchased[nameHash][msg.sender] || listing.seller == msg.sender) revert AlreadyLicensed(name, msg.sender);
        _purchased[nameHash][msg.sender] = true;
        token.safeTransferFrom(msg.sender, address(this), listing.price);
        _settle(nameHash, listing.seller, listing.price);
        emit Purchased(nameHash, msg.sender, listing.seller, listing.price);
    }

    function _rent(string calldata name, uint256 periods, uint256 maxPricePerPeriod) private {
        if (periods == 0 || periods > MAX_RENT_PERIODS) revert InvalidPeriods(periods, MAX_RENT_PERIODS);
        (bytes32 nameHash, Listing memory listing) = _activeListing(name);
        if (listing.rentPrice == 0) revert NotForRent(name);
        if (listing.rentPrice > maxPricePerPeriod) revert PriceAboveMax(listing.rentPrice, maxPricePerPeriod);
        if (listing.seller == msg.sender) revert AlreadyLicensed(name, msg.sender);
        uint256 amount = uint256(listing.rentPrice) * periods;
        uint64 current = _rentalExpiry[nameHash][msg.sender];
        uint64 start = current > block.timestamp ? current : uint64(block.timestamp);
        uint64 expiresAt = start + uint64(periods) * listing.rentPeriod;
        _rentalExpiry[nameHash][msg.sender] = expiresAt;
        token.safeTransferFrom(msg.sender, address(this), amount);
        _settle(nameHash, listing.seller, amount);
        emit Rented(nameHash, msg.sender, listing.seller, periods, amount, expiresAt);
    }

    function _permit(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        // A permit can be front-run (submitted by someone else first); then the allowance is already there.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), value, deadline, v, r, s) {} catch {}
    }

    function _activeListing(string calldata name) private view returns (bytes32 nameHash, Listing memory listing) {
        nameHash = keccak256(bytes(name));
        listing = _listings[nameHash];
        address owner = registry.ownerOfHash(nameHash);
        if (owner == address(0)) revert UnknownModel(name);
        if (listing.seller == address(0) || listing.seller != owner) revert NotListed(name);
    }

    function _requireNameOwner(string calldata name) private view returns (bytes32 nameHash) {
        nameHash = keccak256(bytes(name));
        address owner = registry.ownerOfHash(nameHash);
        if (owner == address(0)) revert UnknownModel(name);
        if (owner != msg.sender) revert NotNameOwner(name, msg.sender);
    }

    /// @dev Credits `amount` to `seller`, less the royalties paid along the lineage of `nameHash`'s newest version.
    function _settle(bytes32 nameHash, address seller, uint256 amount) private {
        uint256 versionId = registry.latestOfHash(nameHash);
        uint256 paid;
        if (versionId != 0 && royaltyBps > 0) {
            uint256[] memory budget = new uint256[](1);
            budget[0] = MAX_ROYALTY_RECIPIENTS;
            (,, uint256[] memory parents) = registry.lineageOf(versionId);
            paid = _payParents(nameHash, parents, amount, 1, budget);
        }
        _balances[seller] += amount - paid;
    }

    /**
     * @dev Pays `royaltyBps` of `amount`, split equally, to the owners of `parents`; each passes the same
     * share of its part on to its own parents. Returns what left the caller's hands.
     */
    function _payParents(bytes32 soldNameHash, uint256[] memory parents, uint256 amount, uint256 depth, uint256[] memory budget)
        private
        returns (uint256 paid)
    {
        if (parents.length == 0 || depth > MAX_LINEAGE_DEPTH) return 0;
        uint256 share = amount * royaltyBps / BPS / parents.length;
        if (share == 0) return 0;
        for (uint256 i = 0; i < parents.length && budget[0] > 0; i++) {
            budget[0] -= 1;
            (bytes32 parentNameHash, address recipient, uint256[] memory grandparents) = registry.lineageOf(parents[i]);
            uint256 passedOn = _payParents(soldNameHash, grandparents, share, depth + 1, budget);
            uint256 kept = share - passedOn;
            _balances[recipient] += kept;
            paid += share;
            emit RoyaltyPaid(soldNameHash, parentNameHash, recipient, parents[i], kept, depth);
        }
    }
}
