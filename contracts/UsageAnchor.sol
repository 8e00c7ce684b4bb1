// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title UsageAnchor
 * @notice Merkle roots of batches of signed usage and validation receipts, one transaction per batch.
 * The batch itself lives off chain (at `uri`); anyone holding a receipt and its proof can check it was
 * anchored with {verifyReceipt}. Leaves follow OpenZeppelin's StandardMerkleTree with the single
 * value type `bytes32`: `leaf = keccak256(bytes.concat(keccak256(abi.encode(receiptHash))))`, pairs
 * hashed sorted, so the OpenZeppelin merkle-tree library reproduces roots and proofs.
 */
contract UsageAnchor {
    struct Anchor {
        bytes32 root;
        bytes32 subject;
        address submitter;
        uint64 anchoredAt;
        uint32 count;
    }

    /// @dev Anchor `id` is stored at index `id - 1`.
    Anchor[] private _anchors;

    /**
     * @param subject what the receipts are about: the name hash of a model (`keccak256(bytes(name))`,
     * as in ModelRegistry's events), or any other 32-byte tag; zero for a mixed batch.
     */
    event Anchored(
        uint256 indexed anchorId,
        bytes32 indexed subject,
        address indexed submitter,
        bytes32 root,
        uint32 count,
        string uri
    );

    error EmptyBatch();
    error ZeroRoot();
    error UnknownAnchor(uint256 anchorId);

    /// @notice Records the root of a batch of `count` receipts. Returns the anchor's id (from 1).
    function anchor(bytes32 root, uint32 count, bytes32 subject, string calldata uri) external returns (uint256 anchorId) {
        if (root == bytes32(0)) revert ZeroRoot();
        if (count == 0) revert EmptyBatch();
        _anchors.push(Anchor({root: root, subject: subject, submitter: msg.sender, anchoredAt: uint64(block.timestamp), count: count}));
        anchorId = _anchors.length;
        emit Anchored(anchorId, subject, msg.sender, root, count, uri);
    }

    function anchorOf(uint256 anchorId) external view returns (Anchor memory) {
        return _anchor(anchorId);
    }

    function anchorCount() external view returns (uint256) {
        return _anchors.length;
    }

    /// @notice The Merkle leaf of a receipt hash (StandardMerkleTree, value type `bytes32`).
    function leafOf(bytes32 receiptHash) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(receiptHash))));
    }

    /// @notice Whether the receipt with hash `receiptHash` is in the batch of anchor `anchorId`.
    function verifyReceipt(uint256 anchorId, bytes32 receiptHash, bytes32[] calldata proof) external view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _anchor(anchorId).root, leafOf(receiptHash));
    }

    function _anchor(uint256 anchorId) private view returns (Anchor storage) {
        if (anchorId == 0 || anchorId > _anchors.length) revert UnknownAnchor(anchorId);
        return _anchors[anchorId - 1];
    }
}
